"""Benchmark: the switch gap - seconds between the first and the last write of schedule_switch.

    .venv/bin/python bench/bench_switch.py [--rounds 5]

Starts its own emulator on a free loopback port (stopped by its PID at the end), creates the legacy
rule (live) and the new rule (enabled, shadow), and switches to new and back to old ``rounds``
times on an injected clock standing mid-slot (no real waiting). Prints the gap of every switch and
the module's wall time. Goal: gap <= 2 s. Results: bench/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import own_emulator  # noqa: E402
from tests.module_runner import run_module  # noqa: E402

ARN = "arn:aws:lambda:ap-northeast-2:123456789012:function:"
OLD_RULE, NEW_RULE = "naverplace_send_inform_trigger", "naver-sms-automation-v2-trigger"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    import boto3

    gaps = {"new": [], "old": []}
    walls = {"new": [], "old": []}
    with tempfile.TemporaryDirectory(prefix="bench-switch-") as tmp:
        with own_emulator(Path(tmp) / "emu") as server:
            events = boto3.client("events", endpoint_url=server.url, region_name="ap-northeast-2")
            events.put_rule(Name=OLD_RULE, ScheduleExpression="cron(0/20 * * * ? *)", State="ENABLED")
            events.put_targets(Rule=OLD_RULE, Targets=[{"Id": "legacy", "Arn": ARN + "naverplace_send_inform"}])
            events.put_rule(Name=NEW_RULE, ScheduleExpression="cron(0/20 * * * ? *)", State="ENABLED")
            alias = ARN + "naverplace_send_inform_v2:live"
            events.put_targets(Rule=NEW_RULE, Targets=[{"Id": "function", "Arn": alias, "Input": '{"mode": "shadow"}'}])
            clock = Path(tmp) / "clock.json"
            mid_slot = datetime.now(timezone.utc).replace(minute=10, second=0, microsecond=0) - timedelta(hours=1)
            clock.write_text(json.dumps({"at": mid_slot.strftime("%Y-%m-%dT%H:%M:%SZ")}))
            for _ in range(args.rounds):
                for live in ("new", "old"):
                    started = time.monotonic()
                    result = run_module("schedule_switch", {
                        "live": live, "old_rule": OLD_RULE, "new_rule": NEW_RULE, "new_target_arn": alias,
                        "clock": str(clock), "max_wait": 0}, server.url)
                    walls[live].append(time.monotonic() - started)
                    if result.get("failed") or not result["changed"]:
                        raise SystemExit(f"switch to {live} did not switch: {result}")
                    gaps[live].append(result["gap_seconds"])
    worst = max(gaps["new"] + gaps["old"])
    for live, name in (("new", "cutover (old disabled -> new input live)"),
                       ("old", "rollback (new input shadow -> old enabled)")):
        print(f"{name}: gap median {statistics.median(gaps[live]):.3f} s, max {max(gaps[live]):.3f} s; "
              f"module wall median {statistics.median(walls[live]):.2f} s ({args.rounds} runs)")
    print(f"worst gap {worst:.3f} s (goal <= 2 s)")
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
