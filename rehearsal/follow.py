"""Let time pass when a playbook waits for it: the rehearsal's answer to "wait for the next slot".

A playbook that must see the next scheduled run (cutover.yml and rollback.yml verify the first
execution after a switch, ``library/execution_check.py``) writes, on the test inventory,
``wanted.json`` next to the rehearsal clock: ``{"until": <ISO>}``, the clock it waits for. ``follow``
runs one slot at a time while the clock stands before that time, and nothing otherwise, so the
simulated clock never moves under a switch or a reconcile in progress (on AWS the quiet window
guarantees that; here the clock simply does not move until asked). It stops after ``idle_s`` real
seconds without a request, or when ``stop`` is set.

    python -m rehearsal follow [--idle 120] [--jitter S]     # in the foreground, logging to stdout
    python -m rehearsal.follow start [--idle 120] [--jitter S]  # in the background (molecule prepare)
    python -m rehearsal.follow status | stop

In the background the follower is its own process group (stopped by PID with its children), its PID in
``$CUTOVER_STATE_DIR/follow.pid`` and its log in ``$CUTOVER_FOLLOW_LOG`` (default
``$CUTOVER_STATE_DIR/rehearsal/follow.log``): one line per request seen, per slot run and per failure
(with its traceback). A failing slot does not end the loop: it is logged and tried again, and after
``max_failures`` failures in a row the follower stops saying so (exit status 2).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional, Tuple

from rehearsal.config import Config
from rehearsal.emulator import _pid_alive, _read_pid, spawn, state_dir, tail
from rehearsal.emulator import stop as stop_pid_file
from rehearsal.scheduler import RehearsalError, Scheduler

WANTED = "wanted.json"
READY = "following "  # the first line the follower prints once it found its emulator
MAX_FAILURES = 3


class FollowError(RehearsalError):
    """The follower cannot go on; the message says why and where its log is."""


def wanted_path(clock_path: Path) -> Path:
    return Path(clock_path).with_name(WANTED)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def look(scheduler: Scheduler) -> Tuple[bool, str]:
    """(a slot must run, what the follower sees) from wanted.json and the clock."""
    path = wanted_path(scheduler.clock_path)
    try:
        wanted = json.loads(path.read_text())["until"]
    except FileNotFoundError:
        return False, f"no request ({path} absent)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"request {path} unreadable ({exc.__class__.__name__}: {exc})"
    try:
        state = scheduler.load()
    except (OSError, ValueError) as exc:
        return False, f"clock {scheduler.clock_path} unreadable ({exc.__class__.__name__}: {exc})"
    if state is None:
        return False, f"request until {wanted} but no clock file {scheduler.clock_path}"
    try:
        due = _time(wanted) > _time(state["now"])
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"request until {wanted!r} or clock {state.get('now')!r} not a time ({exc})"
    return due, f"request until {wanted}, clock at {state['now']}" + (": a slot to run" if due else ": reached")


def _quiet(_message: str) -> None:
    return None


def follow(cfg: Optional[Config] = None, idle_s: float = 120.0, poll_s: float = 0.2,
           stop: Optional[threading.Event] = None, jitter_s: Optional[float] = None,
           log: Callable[[str], None] = _quiet, max_failures: int = MAX_FAILURES,
           on_failure: Optional[Callable[[BaseException], None]] = None) -> int:
    """Run slots on request until idle for idle_s or stopped; returns the number of slots run.

    Every change of what it sees, every slot and every failure goes to ``log``. A slot that raises is
    logged with its traceback (and given to ``on_failure``) and tried again after a pause; after
    ``max_failures`` failures in a row FollowError ends the loop.
    """
    scheduler = Scheduler(cfg or Config())
    steps, failures, last, seen = 0, 0, time.monotonic(), None
    while not (stop and stop.is_set()) and time.monotonic() - last < idle_s:
        due, sight = look(scheduler)
        if sight != seen:
            log(sight)
            seen = sight
        if not due:
            time.sleep(poll_s)
            continue
        try:
            summary = scheduler.run(1, jitter_s=jitter_s)
        except Exception as exc:  # noqa: BLE001 - logged with its traceback, retried, then FollowError
            failures += 1
            log(f"slot failed ({failures} in a row): {exc.__class__.__name__}: {exc}\n"
                + traceback.format_exc(limit=50).rstrip())  # a limit of its own: sys.tracebacklimit may be 0
            if on_failure:
                on_failure(exc)
            if failures >= max_failures:
                raise FollowError(f"{failures} slot runs in a row failed, the last with {exc.__class__.__name__}: "
                                  f"{exc}; the follower stops (tracebacks in its log). Fix the cause (is the "
                                  f"emulator up? python -m rehearsal status), then start the follower again") from exc
            seen, last = None, time.monotonic()
            time.sleep(min(5.0, poll_s * 10))
            continue
        failures, seen = 0, None
        steps, last = steps + 1, time.monotonic()
        log(f"slot {summary['from']} run: {sum(summary['runs'].values())} invocation(s), "
            f"{sum(summary['errors'].values())} failed, {summary['delivered_sms']} SMS, {summary['wall_s']} s")
    return steps


class Follower:
    """``follow`` in a thread, for tests: ``with Follower(cfg): run the playbook``.

    A slot that fails is retried while the playbook waits; the first failure is raised on exit."""

    def __init__(self, cfg: Config, idle_s: float = 600.0, jitter_s: Optional[float] = None):
        self.cfg, self.stop, self.jitter_s = cfg, threading.Event(), jitter_s
        self.steps, self.error = 0, None
        self.thread = threading.Thread(target=self._run, args=(idle_s,), daemon=True)

    def _failed(self, exc: BaseException) -> None:
        self.error = self.error or exc

    def _run(self, idle_s):
        try:
            self.steps = follow(self.cfg, idle_s=idle_s, stop=self.stop, jitter_s=self.jitter_s,
                                on_failure=self._failed)
        except Exception as exc:  # noqa: BLE001 - reported by __exit__
            self.error = self.error or exc

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=120)
        if self.error and not exc[0]:
            raise self.error


# ------------------------------------------------------------ in the background (molecule prepare)

def pid_file() -> Path:
    return state_dir() / "follow.pid"


def log_file() -> Path:
    return Path(os.environ.get("CUTOVER_FOLLOW_LOG") or state_dir() / "rehearsal" / "follow.log")


def start(idle_s: float = 120.0, jitter_s: Optional[float] = None, timeout: float = 60.0) -> int:
    """Start ``python -m rehearsal follow`` in its own process group; returns its PID once it follows.

    The PID goes to pid_file(), stdout and stderr to log_file() (an earlier log is kept as
    ``<name>.prev.log``). Idempotent while the recorded follower lives. Raises FollowError with the
    log's tail when the follower exits or does not say it follows within ``timeout`` seconds.
    """
    pids, log = pid_file(), log_file()
    pid = _read_pid(pids)
    if pid and _pid_alive(pid):
        return pid
    if log.exists():
        log.replace(log.with_name(f"{log.stem}.prev{log.suffix}"))
    argv = [sys.executable, "-u", "-m", "rehearsal", "follow", "--idle", str(idle_s)]
    if jitter_s is not None:
        argv += ["--jitter", str(jitter_s)]
    return spawn(argv, pids, log, lambda: READY in tail(log), "the follower", timeout, error=FollowError)


def status() -> Tuple[bool, str]:
    """(alive, a message with the PID, the log's place and its tail)."""
    pid, log = _read_pid(pid_file()), log_file()
    if pid and _pid_alive(pid):
        return True, f"follower running (pid {pid}); {log} ends:\n{tail(log, 5)}"
    what = f"follower pid {pid} is gone" if pid else f"no follower PID in {pid_file()}"
    return False, f"{what}; {log} ends:\n{tail(log)}"


def stop() -> bool:
    """Stop the background follower (its process group) by its PID file; True when one ran."""
    return stop_pid_file(pid_file())


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.follow", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "status", "stop"])
    parser.add_argument("--idle", type=float, default=120.0, help="stop after this many seconds without a request")
    parser.add_argument("--jitter", type=float, help="maximum delivery delay in seconds (default 8, 0 = none)")
    args = parser.parse_args(argv)
    if args.command == "start":
        try:
            pid = start(args.idle, args.jitter)
        except RehearsalError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"follower running (pid {pid}, pid file {pid_file()}), logging to {log_file()}")
        return 0
    if args.command == "stop":
        print("follower stopped" if stop() else "no follower was running")
        return 0
    alive, message = status()
    print(message, file=sys.stdout if alive else sys.stderr)
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
