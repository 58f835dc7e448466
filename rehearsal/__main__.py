"""python -m rehearsal: drive the rehearsal world on the local emulator.

    seed                         create the legacy world (rehearsal/world.py; idempotent)
    run --slots N | --days D     advance the simulated clock, firing every enabled rule
        [--start ISO] [--seed S] [--fault NAME] [--jitter SECONDS] [--verbose]
    check [--json]               the customer invariant; exit 1 on any violation
    status                       clock, rules (enabled, live/shadow), counts so far
    follow [--idle S] [--jitter S]  run a slot whenever a playbook waits for one (rehearsal/follow.py)
    reset                        forget clock, recorders and pending writes (not the emulator)

The emulator URL comes from CUTOVER_EMULATOR_URL, the state from
CUTOVER_STATE_DIR (default .state/), under its rehearsal/ directory. That state
belongs to the world seeded in the emulator (its mark, SSM /rehearsal/world-id):
after the emulator was stopped or reset, seed and run set the old state aside,
check and status refuse and name the command to run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import datetime, timezone

from rehearsal import emulator, world
from rehearsal.config import Config
from rehearsal.handlers import FAULTS
from rehearsal.invariants import check_world
from rehearsal.scheduler import RehearsalError, Scheduler

SLOTS_PER_DAY = 72


def _iso(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time such as 2026-11-18T00:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _need_emulator(cfg: Config) -> None:
    if not emulator.answers(cfg.url):
        raise RehearsalError(f"no emulator answers at {cfg.url}: run `make emulator` first")


def _follow_world(cfg: Config, command: str) -> None:
    """The local state must belong to the emulator's world (see Scheduler.follow_world)."""
    note = Scheduler(cfg).follow_world(command)
    if note:
        print(f"note: {note}", file=sys.stderr if command != "seed" else sys.stdout)


def cmd_seed(cfg: Config, args) -> int:
    _need_emulator(cfg)
    print(world.seed(cfg.url))
    _follow_world(cfg, "seed")
    return 0


def cmd_run(cfg: Config, args) -> int:
    _need_emulator(cfg)
    _follow_world(cfg, "run")
    slots = args.slots if args.slots is not None else args.days * SLOTS_PER_DAY
    summary = Scheduler(cfg).run(slots, start=args.start, seed=args.seed, fault=args.fault,
                                 jitter_s=args.jitter, verbose=args.verbose)
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return 0


def cmd_check(cfg: Config, args) -> int:
    _follow_world(cfg, "check")
    report = check_world(cfg)
    if args.json:
        print(json.dumps({"ok": report.ok, "owed": report.owed, "delivered": report.delivered,
                          "counts": report.counts(), "violations": report.violations}, ensure_ascii=False, indent=1))
    else:
        print(report.summary())
        for v in report.violations[:args.limit]:
            print(f"  {v['kind']:8} {v['sms_type']:8} {v['booking_num']} {v['phone']}: {v['detail']}")
        if len(report.violations) > args.limit:
            print(f"  ... and {len(report.violations) - args.limit} more (--json for all)")
    return 0 if report.ok else 1


def cmd_status(cfg: Config, args) -> int:
    _follow_world(cfg, "status")
    scheduler = Scheduler(cfg)
    state = scheduler.load()
    if state is None:
        print(f"no rehearsal clock yet in {cfg.directory}")
    else:
        print(f"clock {state['now']} (started {state['world_start']}, seed {state['seed']}, last fault {state['fault']}, "
              f"world {state.get('world_id')})")
    if emulator.answers(cfg.url):
        for rule in scheduler.read_rules():
            targets = ", ".join(f"{t.function or '?'} mode={t.payload.get('mode', '-')}" for t in rule.targets)
            problem = f" NOT FIRED: {rule.problem}" if rule.problem else ""
            print(f"rule {rule.name}: {rule.state} {rule.expression or ''} -> {targets or '(targets not read)'}{problem}")
    else:
        print(f"no emulator at {cfg.url}")
    runs = Counter((r["function"], bool(r.get("error"))) for r in scheduler.recorders.runs)
    for function in sorted({f for f, _ in runs}):
        print(f"runs of {function}: {runs[(function, False)]} ok, {runs[(function, True)]} failed")
    sms = Counter((r["function"], r["sms_type"]) for r in scheduler.recorders.sens)
    for (function, sms_type), n in sorted(sms.items()):
        print(f"SMS delivered by {function}: {sms_type} {n}")
    telegram = Counter(r["function"] for r in scheduler.recorders.telegram)
    for function, n in sorted(telegram.items()):
        print(f"Telegram summaries delivered by {function}: {n}")
    return 0


def cmd_follow(cfg: Config, args) -> int:
    from rehearsal.follow import READY, follow

    def say(message: str) -> None:
        print(f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%S.%f}"[:-3] + f"Z {message}", flush=True)

    say(f"follower pid {os.getpid()}: waiting for the emulator at {cfg.url}")
    deadline = time.monotonic() + 60  # a loaded machine may answer slowly: do not die on a first miss
    while not emulator.answers(cfg.url, timeout=5):
        if time.monotonic() > deadline:
            _need_emulator(cfg)
        time.sleep(1)
    say(f"{READY}{cfg.directory}: a slot runs whenever a playbook waits for one (idle stop {args.idle} s)")
    steps = follow(cfg, idle_s=args.idle, jitter_s=args.jitter, log=say)
    say(f"{steps} slot(s) run; idle for {args.idle} s, stopped")
    return 0


def cmd_reset(cfg: Config, args) -> int:
    Scheduler(cfg).reset()
    print(f"rehearsal state in {cfg.directory} cleared (the emulator was not touched)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("seed", help="create the legacy world").set_defaults(func=cmd_seed)
    run = sub.add_parser("run", help="advance the simulated clock")
    size = run.add_mutually_exclusive_group(required=True)
    size.add_argument("--slots", type=int, help="number of 20-minute slots")
    size.add_argument("--days", type=int, help="number of days (72 slots each)")
    run.add_argument("--start", type=_iso, help="first slot (UTC ISO) when the clock does not exist yet")
    run.add_argument("--seed", type=int, help="bookings seed (default 1), fixed for the life of a world")
    run.add_argument("--fault", choices=sorted(FAULTS), help="a named fault of the new function, for this run")
    run.add_argument("--jitter", type=float, help="maximum delivery delay in seconds (default 8, 0 = none)")
    run.add_argument("--verbose", action="store_true", help="print one line per invocation")
    run.set_defaults(func=cmd_run)
    chk = sub.add_parser("check", help="the customer invariant; exit 1 on violation")
    chk.add_argument("--json", action="store_true")
    chk.add_argument("--limit", type=int, default=20, help="violations to print (default 20)")
    chk.set_defaults(func=cmd_check)
    sub.add_parser("status", help="clock, rules, counts").set_defaults(func=cmd_status)
    sub.add_parser("reset", help="forget the rehearsal state").set_defaults(func=cmd_reset)
    fol = sub.add_parser("follow", help="run a slot whenever a playbook waits for one")
    fol.add_argument("--idle", type=float, default=120.0, help="stop after this many seconds without a request")
    fol.add_argument("--jitter", type=float, help="maximum delivery delay in seconds (default 8, 0 = none)")
    fol.set_defaults(func=cmd_follow)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    cfg = Config()
    try:
        return args.func(cfg, args)
    except (RehearsalError, emulator.EmulatorError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
