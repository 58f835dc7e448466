"""`make demo`: the whole rehearsal against the local emulator, phase by phase.

Each step is a function; the epic's issues add theirs to STEPS in order.
"""
from __future__ import annotations

import sys
import time

from rehearsal import emulator, world


def step_emulator() -> None:
    emu = emulator.start()
    print(f"emulator at {emu.url} (pid {emu.pid}); stop it with `make emulator-stop`")


def step_seed_world() -> None:
    print(world.seed(emulator.emulator_url()))


STEPS = [
    ("start the local AWS", step_emulator),
    ("seed the legacy world", step_seed_world),
]


def main() -> int:
    for number, (title, step) in enumerate(STEPS, 1):
        started = time.monotonic()
        print(f"\n=== {number}. {title}", flush=True)
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the demo reports and stops
            print(f"!!! step {number} ({title}) failed: {exc}", file=sys.stderr)
            return 1
        print(f"--- {title}: done in {time.monotonic() - started:.1f}s", flush=True)
    print("\ndemo finished: every step above ran against the local emulator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
