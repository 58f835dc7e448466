"""Benchmark: reconcile 10,000 items of sms_v2 into sms (rollback scenario 2's state step), then again.

    .venv/bin/python bench/bench_reconcile.py [--items 10000] [--differ 0.3] [--new 0.1]

Starts its own emulator on a free loopback port (stopped by its PID at the end), fills ``sms`` with
``items`` bookings and ``sms_v2`` with the same bookings where a ``differ`` share learned one more flag,
plus a ``new`` share of bookings only ``sms_v2`` knows, then runs dynamodb_state action=reconcile
in-process (real HTTP) and once more (the rerun must write nothing). Goal: <= 15 s for 10,000 items.
Each run is split (bench/timing.py) into the time an AWS call was in flight (the emulator's work) and the
module's own Python (planning, botocore signing and parsing): what the goal depends on.
Results: bench/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import timing  # noqa: E402
from bench.common import own_emulator  # noqa: E402
from tests.module_runner import run_module  # noqa: E402

KEYS = [{"AttributeName": "booking_num", "KeyType": "HASH"}, {"AttributeName": "phone", "KeyType": "RANGE"}]
ATTRS = [{"AttributeName": "booking_num", "AttributeType": "S"}, {"AttributeName": "phone", "AttributeType": "S"}]


def fill(ddb, table, items):
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST", KeySchema=KEYS, AttributeDefinitions=ATTRS)
    for i in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[i:i + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or None


def world(count, differ, new, seed=7):
    rng = random.Random(seed)
    old, v2 = [], []
    for n in range(count):
        flags = {f: rng.random() < 0.5 for f in ("confirm_sms", "remind_sms", "option_sms")}
        base = {"booking_num": {"S": f"1051707_{n}"}, "phone": {"S": f"010-{n:08d}"}, "name": {"S": "김민수"},
                "booking_time": {"S": "2026-11-26 12:00"}}
        old.append(dict(base, **{f: {"BOOL": v} for f, v in flags.items()}))
        if rng.random() < differ:
            unset = [f for f, v in flags.items() if not v] or ["confirm_sms"]
            flags[rng.choice(unset)] = True
        v2.append(dict(base, **{f: {"BOOL": v} for f, v in flags.items()}))
    for n in range(int(count * new)):
        v2.append({"booking_num": {"S": f"1051707_new{n}"}, "phone": {"S": "010-1"}, "confirm_sms": {"BOOL": True},
                   "remind_sms": {"BOOL": False}, "option_sms": {"BOOL": False}, "name": {"S": "이"},
                   "booking_time": {"S": "2026-11-27 12:00"}})
    return old, v2


def world_arguments(parser):
    """--items, --differ, --new: the shape of world() (also bench_rollback.py's)."""
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--differ", type=float, default=0.3)
    parser.add_argument("--new", type=float, default=0.1)
    return parser


def main(argv=None) -> int:
    args = world_arguments(argparse.ArgumentParser()).parse_args(argv)
    import boto3

    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        with own_emulator(Path(tmp) / "emu") as server:
            ddb = boto3.client("dynamodb", endpoint_url=server.url, region_name="ap-northeast-2")
            old, v2 = world(args.items, args.differ, args.new)
            started = time.monotonic()
            fill(ddb, "sms", old)
            fill(ddb, "sms_v2", v2)
            fill_s = time.monotonic() - started
            call = {"action": "reconcile", "table": "sms_v2", "target_table": "sms"}
            record = Path(tmp) / "timing.jsonl"
            timing.install(record)
            started, at = time.monotonic(), time.time()
            first = run_module("dynamodb_state", call, server.url)
            first_s, first_parts = time.monotonic() - started, (at, time.time())
            if first.get("failed"):
                raise SystemExit(f"reconcile failed: {first['msg']}")
            started, at = time.monotonic(), time.time()
            again = run_module("dynamodb_state", call, server.url)
            again_s, again_parts = time.monotonic() - started, (at, time.time())
            if again.get("failed") or again["changed"]:
                raise SystemExit(f"the rerun was not a no-op: {again}")
            records = timing.read(record)
    r = first["reconcile"]
    print(f"filled {len(old)} + {len(v2)} items in {fill_s:.1f} s")
    print(f"reconcile: {r['source_items']} read from sms_v2, {r['target_items']} from sms, {r['created']} created, "
          f"{r['updated']} updated, {r['unchanged']} unchanged, {r['batches']} BatchWriteItem calls: {first_s:.2f} s "
          f"(goal <= 15 s; reading both tables {r['read_s']} s, writing {r['write_s']} s)")
    print(f"rerun (no write): {again_s:.2f} s")
    for name, (start, end) in (("reconcile", first_parts), ("rerun", again_parts)):
        parts = timing.breakdown(records, start, end)
        print(f"  {name}: {parts['wall']} s = emulator {parts['emulator']} s ({parts['calls']} AWS calls in flight) + "
              f"module Python {parts['module']} s (planning, botocore signing and parsing) + backoff sleeps "
              f"{parts['sleep']} s; costliest calls: {', '.join(parts['top_calls'])}")
    return 0 if first_s <= 15 else 1


if __name__ == "__main__":
    raise SystemExit(main())
