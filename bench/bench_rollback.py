"""Benchmark: rollback.yml wall time, scenario 2 with 10,000 items to reconcile, and scenario 3.

    .venv/bin/python bench/bench_rollback.py [--items 10000] [--differ 0.3] [--new 0.1]

Starts its own emulator and Slack/Telegram recorder on free loopback ports (stopped by PID at the end),
seeds the legacy world, adds ``items`` bookings to ``sms`` and the same bookings to ``sms_v2`` where a
``differ`` share learned one more flag (plus a ``new`` share only ``sms_v2`` knows; bench_reconcile.py's
data), records a Decision Point 2 go, runs cutover.yml (the rehearsal follows: a slot runs when the
playbook waits for one), then ``rollback.yml -e scenario=2`` as an operator runs it, timed; then
cutover.yml again and ``rollback.yml -e scenario=3`` (restore of the pre-cutover backup of ~10,000
items, reconcile forward, report). Prints each wall time against the seed's SLA (300 s, 900 s; the
issue's goal for scenario 2 is 15 s) and the rollback's own ``elapsed_s`` from the ledger, and splits each
playbook's wall time (bench/timing.py) into the emulator's (an AWS call in flight), the waits (module sleeps:
the poll for the next slot) and the controller's (module processes' Python, ansible-playbook itself), with
the tasks that took longest. ``--no-scenario-3`` stops after scenario 2.
Results: bench/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import timing  # noqa: E402
from bench.bench_reconcile import ATTRS, KEYS, world, world_arguments  # noqa: E402
from bench.common import free_port, own_emulator  # noqa: E402
from rehearsal import notify_recorder  # noqa: E402
from rehearsal.config import Config  # noqa: E402
from rehearsal.follow import Follower  # noqa: E402
from rehearsal.scheduler import Scheduler  # noqa: E402
from rehearsal.world import seed  # noqa: E402
from tests.ansible_runner import run_playbook  # noqa: E402
from tests.conftest import LEDGER_TABLE, bootstrap_state  # noqa: E402
from tests.module_runner import run_module  # noqa: E402

SCHEDULE = "cron(0/20 * * * ? *)"


def put_all(ddb, table, items):
    for i in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[i:i + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or None


def setup(url, cfg, items, differ, new):
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=cfg.region)
    ddb, events, lam, iam = (session.client(s, endpoint_url=url) for s in ("dynamodb", "events", "lambda", "iam"))
    seed(url)
    bootstrap_state(url)
    ddb.create_table(TableName=cfg.new_table, BillingMode="PAY_PER_REQUEST", KeySchema=KEYS, AttributeDefinitions=ATTRS)
    old, v2 = world(items, differ, new)
    put_all(ddb, cfg.old_table, old)
    put_all(ddb, cfg.new_table, v2)
    role = iam.list_roles()["Roles"][0]["Arn"]
    code = lam.get_function(FunctionName=cfg.old_function)["Configuration"]
    lam.create_function(FunctionName=cfg.new_function, Runtime="python3.11", Role=role, Handler=code["Handler"],
                        Code={"ZipFile": _zip()})
    events.put_rule(Name=cfg.old_rule, ScheduleExpression=SCHEDULE, State="ENABLED")
    events.put_rule(Name=cfg.new_rule, ScheduleExpression=SCHEDULE, State="ENABLED")
    alias = f"arn:aws:lambda:{cfg.region}:{cfg.account_id}:function:{cfg.new_function}:live"
    events.put_targets(Rule=cfg.new_rule, Targets=[{"Id": "v2", "Arn": alias, "Input": json.dumps({"mode": "shadow"})}])
    Scheduler(cfg).run(2)
    result = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "decision", "decision": "cutover",
                                           "outcome": "go", "criteria": [], "evidence": {}, "expires_in_hours": 24,
                                           "decided_by": "bench"}, url)
    assert not result.get("failed"), result
    return len(v2)


def _zip():
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return None\n")
    return buf.getvalue()


def timed(cfg, playbook, **extra):
    """-> (wall seconds, timing.breakdown of the run, its longest tasks)."""
    record = Path(os.environ["CUTOVER_STATE_DIR"]).parent / f"timing-{time.monotonic_ns()}.jsonl"
    started, at = time.monotonic(), time.time()
    with Follower(cfg):
        run = run_playbook(playbook, extra_vars=extra or None, timeout=1800, env=timing.env(record))
    wall = time.monotonic() - started
    if run.rc != 0:
        raise SystemExit(f"{playbook} {extra} failed: {run.messages()[-3000:]}")
    return wall, timing.breakdown(timing.read(record), at, time.time()), longest_tasks(run)


def longest_tasks(run, count=4):
    spans = []
    for play in (run.result or {}).get("plays", []):
        for task in play.get("tasks", []):
            span = task["task"].get("duration") or {}
            if span.get("start") and span.get("end"):
                seconds = (datetime.fromisoformat(span["end"].replace("Z", "+00:00"))
                           - datetime.fromisoformat(span["start"].replace("Z", "+00:00"))).total_seconds()
                spans.append((seconds, task["task"]["name"]))
    total = sum(s for s, _ in spans)
    return total, [f"{name[:60]} {s:.1f} s" for s, name in sorted(spans, reverse=True)[:count]]


def last_rollback(url):
    events = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "read", "playbook": "rollback.yml",
                                           "limit": 1}, url)["events"]
    return events[0]["facts"]


def main(argv=None) -> int:
    parser = world_arguments(argparse.ArgumentParser())
    parser.add_argument("--no-scenario-3", dest="scenario_3", action="store_false", help="stop after scenario 2")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rollback-") as tmp:
        state = Path(tmp) / "state"
        notify_url = f"http://127.0.0.1:{free_port()}"
        os.environ.update(CUTOVER_STATE_DIR=str(state), CUTOVER_REPORTS_DIR=str(Path(tmp) / "reports"),
                          CUTOVER_NOTIFY_URL=notify_url, CUTOVER_NOTIFY_FILE=str(Path(tmp) / "notify.jsonl"))
        with own_emulator(Path(tmp) / "emu") as server:
            os.environ["CUTOVER_EMULATOR_URL"] = server.url
            notify_recorder.start(notify_url, Path(tmp) / "notify.jsonl")
            try:
                cfg = Config(url=server.url, directory=state / "rehearsal")
                v2_items = setup(server.url, cfg, args.items, args.differ, args.new)
                cut, cut_parts, _ = timed(cfg, "cutover.yml")
                Scheduler(cfg).run(2)
                two, two_parts, two_tasks = timed(cfg, "rollback.yml", scenario=2)
                facts2 = last_rollback(server.url)
                if args.scenario_3:
                    Scheduler(cfg).run(1)
                    timed(cfg, "cutover.yml")
                    Scheduler(cfg).run(1)
                    three, three_parts, three_tasks = timed(cfg, "rollback.yml", scenario=3)
                    facts3 = last_rollback(server.url)
            finally:
                notify_recorder.stop(notify_url)
    r = facts2["reconciled"]
    print(f"cutover.yml (backups of {args.items}+{v2_items} items, switch, first live slot): {cut:.1f} s")
    print(f"rollback scenario 2: {two:.1f} s wall ({facts2['elapsed_s']} s inside the lock; SLA {facts2['sla_s']} s, "
          f"goal 15 s); reconciled {r['source_items']} items of sms_v2: {r['created']} created, {r['updated']} updated, "
          f"read {r['read_s']} s, write {r['write_s']} s; gap {facts2['gap_seconds']} s")
    catch_up = facts2.get("catch_up")
    print(f"  catch-up reconcile: {'read %s s, %s writes' % (catch_up['read_s'], catch_up['writes']) if catch_up else 'skipped'}"
          f" ({(facts2.get('ran_since_read') or {}).get('reason', 'no reading')})")
    print(timing.line("  cutover.yml", cut_parts))
    print(timing.line("  rollback scenario 2", two_parts))
    print(f"  rollback scenario 2 tasks: {two_tasks[0]:.1f} s in tasks; longest: {'; '.join(two_tasks[1])}")
    if not args.scenario_3:
        return 0 if two <= 300 else 1
    print(f"rollback scenario 3: {three:.1f} s wall ({facts3['elapsed_s']} s inside the lock; SLA {facts3['sla_s']} s); "
          f"restored {facts3['restored_table']}, {facts3['report_bookings']} booking(s) in the report")
    print(timing.line("  rollback scenario 3", three_parts))
    print(f"  rollback scenario 3 tasks: {three_tasks[0]:.1f} s in tasks; longest: {'; '.join(three_tasks[1])}")
    return 0 if two <= 300 and three <= 900 else 1


if __name__ == "__main__":
    raise SystemExit(main())
