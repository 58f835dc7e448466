"""The whole migration, seed to decommission, as `molecule test -s cutover` (the demo's driver,
rehearsal/demo.py) on its own emulator and notify recorder (free loopback ports, stopped by PID in
destroy); prints the wall time and the demo's table of phases. Figures in bench/BENCHMARKS.md."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from common import PROJECT_DIR, free_port


def main() -> int:
    env = dict(os.environ, CUTOVER_MOLECULE_URL=f"http://127.0.0.1:{free_port()}",
               CUTOVER_MOLECULE_NOTIFY_URL=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    proc = subprocess.run([str(PROJECT_DIR / ".venv" / "bin" / "molecule"), "test", "-s", "cutover"],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    table = [line for line in proc.stdout.splitlines() if "s  ok" in line or "s  FAILED" in line
             or "s  skipped" in line or line.strip().startswith(('"total', "total"))]
    print("\n".join(table) or proc.stdout[-3000:])
    print(f"molecule test -s cutover: rc {proc.returncode}, wall {wall:.0f} s, load average {os.getloadavg()[0]:.1f}")
    if proc.returncode:
        print(proc.stdout[-4000:], proc.stderr[-2000:], file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
