"""Decision Point 2 over a simulated parallel week: 504 slots compared one by one, then the gate.

Starts its own emulator on a free loopback port, prepares the world as phase 5.3 leaves it
(bench_rehearsal_week.prepare), runs --slots slots of old live + new shadow with a comparison after
each (rehearsal.comparison, as compare.yml every 20 minutes), then cutover_gate decision=cutover
in-process over window_days = (slots - 2) / 72 (the newest two slots are not settled yet). Prints
the outcome, the executions counted and the time of each part; stops the emulator by its PID.

    .venv/bin/python bench/bench_gate_week.py [--slots 506] [--fault slow]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_rehearsal_week import prepare  # noqa: E402
from bench.common import own_emulator  # noqa: E402
from module_utils.cutover.gate import parse_time  # noqa: E402

ACK = {"by": "bench", "ref": "CHG0000000"}
ALARM = "naver-sms-comparison-discrepancies"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=506)
    parser.add_argument("--fault")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp, own_emulator(Path(tmp)) as server:
        url = server.url
        os.environ.update(CUTOVER_EMULATOR_URL=url, CUTOVER_STATE_DIR=tmp)
        import boto3

        from rehearsal.comparison import compare_slot, grace
        from rehearsal.config import Config
        from rehearsal.scheduler import Scheduler
        from tests.module_runner import run_module

        prepare(url)
        cfg = Config(url=url, directory=Path(tmp) / "rehearsal")
        boto3.client("lambda", endpoint_url=url, region_name=cfg.region).update_function_configuration(
            FunctionName=cfg.new_function, Timeout=300)
        boto3.client("cloudwatch", endpoint_url=url, region_name=cfg.region).put_metric_alarm(
            AlarmName=ALARM, Namespace="naver-sms/comparison", MetricName="discrepancies", Statistic="Maximum",
            Period=1200, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
        scheduler = Scheduler(cfg)
        step = timedelta(minutes=cfg.slot_minutes)
        run_s = compare_s = 0.0
        for index in range(args.slots):
            started = time.monotonic()
            scheduler.run(1, fault=args.fault)
            run_s += time.monotonic() - started
            started = time.monotonic()
            at = scheduler.load()["now"]
            as_of = parse_time(at) - step + grace()
            compare_slot(as_of, Path(tmp) / "reports", cfg)
            compare_s += time.monotonic() - started
        started = time.monotonic()
        result = run_module("cutover_gate", {
            "decision": "cutover", "function": cfg.new_function, "as_of": as_of.isoformat(),
            "window_days": (args.slots - 2) / 72, "alarms": [ALARM], "acknowledgements": {
                "rollback_practised": ACK, "team_comfortable": ACK, "po_approval": ACK}}, url)
        gate_s = time.monotonic() - started
    for criterion in result["criteria"]:
        print(f"{criterion['status'].upper():13} {criterion['name']}: {criterion['measured']} "
              f"(required {criterion['required']})")
    print(f"outcome {result['outcome']}; executions counted {result['evidence'].get('executions_compared')}; "
          f"GetMetricData calls {result['evidence']['aws_calls']}")
    print(f"slots {args.slots}: runs {run_s:.1f}s, comparisons {compare_s:.1f}s, gate {gate_s:.2f}s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
