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
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rehearsal.comparison import grace  # noqa: E402
from rehearsal.config import Config  # noqa: E402
from rehearsal.demo import compare_each_slot  # noqa: E402


def main(slots: int) -> dict:
    """SLOTS slots run without delivery jitter and compared (demo.compare_each_slot, as make demo does), quietly;
    -> the time of the last comparison (with 0: the baseline, the last slot that ran before)."""
    cfg = Config()
    reports = Path(os.environ.get("CUTOVER_REPORTS_DIR", "reports")) / "comparison"
    now = compare_each_slot(cfg, slots, reports, show=lambda _line: None, jitter_s=0)
    as_of = now - timedelta(minutes=cfg.slot_minutes) + grace()
    return {"as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), "slots": slots}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
