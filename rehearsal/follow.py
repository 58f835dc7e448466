"""Let time pass when a playbook waits for it: the rehearsal's answer to "wait for the next slot".

A playbook that must see the next scheduled run (cutover.yml and rollback.yml verify the first
execution after a switch, ``library/execution_check.py``) writes, on the test inventory,
``wanted.json`` next to the rehearsal clock: ``{"until": <ISO>}``, the clock it waits for. ``follow``
runs one slot at a time while the clock stands before that time, and nothing otherwise, so the
simulated clock never moves under a switch or a reconcile in progress (on AWS the quiet window
guarantees that; here the clock simply does not move until asked). It stops after ``idle_s`` real
seconds without a request, or when ``stop`` is set.

    python -m rehearsal follow [--idle 120] [--jitter S]     # in the background while a playbook runs
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

from rehearsal.config import Config
from rehearsal.scheduler import Scheduler

WANTED = "wanted.json"


def wanted_path(clock_path: Path) -> Path:
    return Path(clock_path).with_name(WANTED)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def pending(scheduler: Scheduler) -> bool:
    """A playbook waits for a clock later than the scheduler's."""
    try:
        wanted = json.loads(wanted_path(scheduler.clock_path).read_text())
        state = scheduler.load()
        return state is not None and _time(wanted["until"]) > _time(state["now"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def follow(cfg: Optional[Config] = None, idle_s: float = 120.0, poll_s: float = 0.2,
           stop: Optional[threading.Event] = None, jitter_s: Optional[float] = None) -> int:
    """Run slots on request until idle for idle_s or stopped; returns the number of slots run."""
    scheduler = Scheduler(cfg or Config())
    steps, last = 0, time.monotonic()
    while not (stop and stop.is_set()) and time.monotonic() - last < idle_s:
        if pending(scheduler):
            scheduler.run(1, jitter_s=jitter_s)
            steps, last = steps + 1, time.monotonic()
        else:
            time.sleep(poll_s)
    return steps


class Follower:
    """``follow`` in a thread, for tests: ``with Follower(cfg): run the playbook``."""

    def __init__(self, cfg: Config, idle_s: float = 600.0, jitter_s: Optional[float] = None):
        self.cfg, self.stop, self.jitter_s = cfg, threading.Event(), jitter_s
        self.steps, self.error = 0, None
        self.thread = threading.Thread(target=self._run, args=(idle_s,), daemon=True)

    def _run(self, idle_s):
        try:
            self.steps = follow(self.cfg, idle_s=idle_s, stop=self.stop, jitter_s=self.jitter_s)
        except Exception as exc:  # noqa: BLE001 - reported by __exit__
            self.error = exc

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=120)
        if self.error and not exc[0]:
            raise self.error
