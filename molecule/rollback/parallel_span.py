"""The parallel run's comparison, slot by slot, as compare.yml does it every 20 minutes (molecule prepare).

    python molecule/rollback/parallel_span.py SLOTS
    python molecule/rollback/parallel_span.py 0      # the baseline's time only (start_parallel.yml)

Runs SLOTS slots of the rehearsal (old live, new shadow), compares after each one with the test
inventory's rules (state in the state bucket, as compare.yml), and prints the time of the last
comparison as JSON ({"as_of": ...}): the gate's `cutover_gate_as_of` for Decision Point 2.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rehearsal.comparison import compare_slot, grace  # noqa: E402
from rehearsal.config import Config  # noqa: E402
from rehearsal.scheduler import Scheduler  # noqa: E402


def main(slots: int) -> dict:
    cfg = Config()
    scheduler = Scheduler(cfg)
    now = datetime.fromisoformat(scheduler.state()["now"].replace("Z", "+00:00"))
    reports = Path(os.environ.get("CUTOVER_REPORTS_DIR", "reports")) / "comparison"
    as_of = now - timedelta(minutes=cfg.slot_minutes) + grace()  # the last slot that ran (the baseline)
    for _ in range(slots):
        scheduler.run(1, jitter_s=0)
        as_of = now + grace()
        compare_slot(as_of, reports, cfg, bucket=f"naver-sms-cutover-state-{cfg.account_id}")
        now += timedelta(minutes=cfg.slot_minutes)
    return {"as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "slots": slots}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
