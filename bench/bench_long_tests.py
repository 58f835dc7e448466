"""Tests kept out of `make test` for time, at their full counts: pytest runs them (the same test functions,
the fixtures of tests/conftest.py) one at a time, each on its own emulator, and this prints each one's wall
time and outcome for bench/BENCHMARKS.md.

- tests/rehearsal/test_two_controllers.py with 12 alternating slots (`make test`: 2);
- bench/long_tests/test_phases_under_faults.py: start_parallel.yml killed and recovered through transient
  faults, compare.yml through faults, two compare.yml at once.

    .venv/bin/python bench/bench_long_tests.py [--slots 12] [--only two_controllers|phases]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNS = {  # name -> (test path, extra environment)
    "two_controllers": ("tests/rehearsal/test_two_controllers.py", "CUTOVER_TWO_CONTROLLERS_SLOTS"),
    "phases": ("bench/long_tests/test_phases_under_faults.py", None),
}


def run(path: str, env: dict) -> tuple[int, float]:
    started = time.monotonic()
    # files under bench/ get the suite's fixtures (emulator, proxy, bootstrapped) as a plugin
    plugin = ["-p", "tests.conftest"] if path.startswith("bench/") else []
    proc = subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-n", "0", "-q",
                           "--durations=0", path], cwd=PROJECT_DIR, env=env)
    return proc.returncode, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=12, help="alternating slots of the two controllers (even)")
    parser.add_argument("--only", choices=sorted(RUNS))
    args = parser.parse_args()
    failed = 0
    for name, (path, knob) in RUNS.items():
        if args.only and name != args.only:
            continue
        env = dict(os.environ)
        if knob:
            env[knob] = str(args.slots)
        rc, wall = run(path, env)
        load = os.getloadavg()[0]
        print(f"{name}: {'passed' if rc == 0 else f'FAILED (rc {rc})'} in {wall:.0f} s (load average {load:.1f})",
              flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
