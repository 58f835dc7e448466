"""compare.yml for one slot against the emulator, with 10,000 and 100,000-item tables.

For each size: a fresh emulator, both tables filled with the same N records (one slot's worth of
them changed, a handful differing), both log groups with one slot of SMS and Telegram lines; a
first compare.yml run takes the baseline, the timed one compares the slot (parallel scan of both
tables, every log page, metrics, evidence file). Wall time of the whole ansible-playbook run
(preflight included), of the comparison task, and the module's own timings.
moto 5.2.5 deep-copies and sizes every item in Table.scan (about 3 ms an item here), so on the
emulator the scan dominates; `--in-process N` runs the module's code on in-memory stand-in clients
to show its own cost at N items.
`--scheduled` runs compare.yml as its schedule does (no slot given, 2 slots + 5 minutes after SLOT: it reports
the settled SLOT and also looks at the slot that just ran for shadow leaks); `looks` counts the output_compare
tasks that ran (2 before the leak look came back in the same call, 1 since).
Usage: python bench/bench_compare_playbook.py [--scheduled] [N ...] | --in-process [N ...]
"""
from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from rehearsal import emulator as emu  # noqa: E402
from tests.ansible_runner import run_playbook  # noqa: E402

SLOT = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _item(number: int, changed: bool, differs: bool) -> dict:
    return {"booking_num": {"S": f"1051707_{number}"}, "phone": {"S": f"010-{number:08d}"},
            "name": {"S": "한지민"}, "booking_time": {"S": "2026-12-01 15:00"},
            "confirm_sms": {"BOOL": True}, "remind_sms": {"BOOL": changed and not differs},
            "option_sms": {"BOOL": False}, "option_time": {"S": ""}}


def fill(session, url: str, size: int, changed: bool) -> None:
    ddb = session.client("dynamodb", endpoint_url=url)
    for table in ("sms", "sms_v2"):
        if not changed:
            ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "booking_num", "KeyType": "HASH"},
                                        {"AttributeName": "phone", "KeyType": "RANGE"}],
                             AttributeDefinitions=[{"AttributeName": "booking_num", "AttributeType": "S"},
                                                   {"AttributeName": "phone", "AttributeType": "S"}])
        numbers = range(size) if not changed else range(0, size, 97)  # ~1 % of the records change
        batch = []
        for number in numbers:
            batch.append({"PutRequest": {"Item": _item(number, changed, table == "sms_v2" and number % 9700 == 0)}})
            if len(batch) == 25:
                ddb.batch_write_item(RequestItems={table: batch})
                batch = []
        if batch:
            ddb.batch_write_item(RequestItems={table: batch})
    if changed:
        logs = session.client("logs", endpoint_url=url)
        stamp = int((SLOT + timedelta(seconds=30)).timestamp() * 1000)
        for function in ("naverplace_send_inform", "naverplace_send_inform_v2"):
            group = f"/aws/lambda/{function}"
            logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName="run")
            lines = [{"event": "sms", "slot": SLOT.strftime("%Y-%m-%dT%H:%M:%SZ"), "sms_type": "guide",
                      "booking_num": f"1051707_{n}", "phone": f"010-{n:08d}", "store_id": "1051707",
                      "content": "[네이버 예약] 한지민님, 2시간 후 예약입니다.", "delivered": True}
                     for n in range(0, size, 97)]
            lines.append({"event": "telegram", "slot": SLOT.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "text": f"안내 {len(lines)}건 (took 3.2s)", "delivered": True})
            events = [{"timestamp": stamp + i, "message": json.dumps(line, ensure_ascii=False)}
                      for i, line in enumerate(lines)]
            for index in range(0, len(events), 1000):
                logs.put_log_events(logGroupName=group, logStreamName="run", logEvents=events[index:index + 1000])


def measure(size: int, scheduled: bool = False) -> dict:
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="ap-northeast-2")
    with tempfile.TemporaryDirectory() as directory:
        server = emu.start(f"http://127.0.0.1:{_port()}", directory=directory)
        try:
            env = {"CUTOVER_EMULATOR_URL": server.url, "CUTOVER_REPORTS_DIR": directory,
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
            os.environ.update(env)
            fill(session, server.url, size, changed=False)
            slot = SLOT.strftime("%Y-%m-%dT%H:%M:%SZ")
            from tests.conftest import bootstrap_state
            from tests.rehearsal.conftest import bucket_baseline

            bootstrap_state(server.url)  # what bootstrap.yml creates
            bucket_baseline(server.url, SLOT - timedelta(minutes=15))  # what start_parallel.yml takes
            fill(session, server.url, size, changed=True)
            started = time.monotonic()
            extra = {"cutover_compare_as_of": (SLOT + timedelta(minutes=45)).isoformat()} if scheduled else {
                "cutover_compare_slot": slot, "cutover_compare_as_of": (SLOT + timedelta(minutes=5)).isoformat()}
            run = run_playbook("compare.yml", env=env, extra_vars=extra)
            wall = time.monotonic() - started
            assert run.rc == 0, run.messages()
            (task,) = [r for r in run.result["plays"][0]["tasks"] if r["task"]["name"].startswith("Compare both")]  # in the block
            duration = task["task"]["duration"]
            task_s = (datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                      - datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))).total_seconds()
            result = task["hosts"]["localhost"]
            total = result["total"]
            assert result["start"] == slot, result["start"]
            looks = [r for r in run.result["plays"][0]["tasks"] if r["task"]["name"].startswith(("Compare both", "Look at"))
                     and not r["hosts"]["localhost"].get("skipped")]
            return {"items": size, "scheduled": scheduled, "looks": len(looks), "playbook_s": round(wall, 1),
                    "compare_task_s": round(task_s, 1),
                    "module_timings": result["timings"], "matched": total["matched"],
                    "discrepancies": total["discrepancies"]}
        finally:
            server.stop()


class _Stub:
    """In-memory stand-in for the DynamoDB, Logs and CloudWatch clients: the module's own cost alone."""

    def __init__(self, size: int, changed: bool):
        self.size, self.changed = size, changed

    def describe_table(self, **_kwargs):
        return {"Table": {"TableStatus": "ACTIVE"}}

    def scan(self, TableName, Segment, TotalSegments, aws_retry=False, **_kwargs):
        items = [_item(n, self.changed and n % 97 == 0, TableName == "sms_v2" and n % 9700 == 0)
                 for n in range(Segment, self.size, TotalSegments)]
        return {"Items": items}

    def filter_log_events(self, logGroupName, aws_retry=False, **_kwargs):
        stamp = int((SLOT + timedelta(seconds=30)).timestamp() * 1000)
        slot = SLOT.strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [{"event": "sms", "slot": slot, "sms_type": "guide", "booking_num": f"1051707_{n}",
                  "phone": f"010-{n:08d}", "store_id": "1051707", "content": "[네이버 예약] 2시간 후 예약입니다.",
                  "delivered": True} for n in range(0, self.size, 97)] if self.changed else []
        return {"events": [{"timestamp": stamp, "message": json.dumps(line, ensure_ascii=False)} for line in lines]}

    def get_paginator(self, name):
        stub = self

        class _Pages:
            def paginate(self, **kwargs):
                return self

            def build_full_result(self):
                return stub.filter_log_events(logGroupName=name)
        return _Pages()

    def put_metric_data(self, **_kwargs):
        return {}


def measure_in_process(size: int) -> dict:
    from module_utils.cutover.compare_aws import run_comparison
    from rehearsal.comparison import DirectoryStore, inventory_settings

    settings = inventory_settings()
    with tempfile.TemporaryDirectory() as directory:
        params = {"old_table": "sms", "new_table": "sms_v2", "old_log_group": "/aws/lambda/old",
                  "new_log_group": "/aws/lambda/new", "slot": SLOT.isoformat(), "start": None, "end": None,
                  "settle_slots": 1, "slot_minutes": 20, "grace_s": 300, "evidence_cap": 50,
                  "rules": settings["cutover_compare_rules"], "old_log_format": "json", "new_log_format": "json",
                  "namespace": "bench", "report_dir": directory, "baseline": True, "scan_segments": 4,
                  "new_rule": None, "new_mode": None, "log_group": None}
        store = DirectoryStore(Path(directory) / "state")
        stub = _Stub(size, changed=False)
        clients = dict.fromkeys(("dynamodb", "logs", "cloudwatch", "events"), stub)
        run_comparison(dict(params, as_of=(SLOT - timedelta(minutes=15)).isoformat()), False, clients, store)
        clients = dict.fromkeys(("dynamodb", "logs", "cloudwatch", "events"), _Stub(size, changed=True))
        started = time.monotonic()
        result = run_comparison(dict(params, as_of=(SLOT + timedelta(minutes=5)).isoformat()), False, clients, store)
        return {"items": size, "in_process_s": round(time.monotonic() - started, 2),
                "module_timings": result["timings"], "matched": result["total"]["matched"],
                "discrepancies": result["total"]["discrepancies"]}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--in-process"]:
        for size in [int(a) for a in argv[1:]] or [10_000, 100_000]:
            print(json.dumps(measure_in_process(size)), flush=True)
        return 0
    scheduled = argv[:1] == ["--scheduled"]
    for size in [int(a) for a in argv[1 if scheduled else 0:]] or [1_000, 10_000]:
        print(json.dumps(measure(size, scheduled)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
