"""`make demo`: the whole rehearsal against the local emulator, phase by phase.

Each step is a function; the epic's issues add theirs to STEPS in order.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

from rehearsal import emulator, world


def step_emulator() -> None:
    emu = emulator.start()
    print(f"emulator at {emu.url} (pid {emu.pid}); stop it with `make emulator-stop`")


def step_seed_world() -> None:
    print(world.seed(emulator.emulator_url()))


def step_legacy_day() -> None:
    """A simulated day of the legacy system alone, then the customer invariant."""
    from rehearsal.config import Config
    from rehearsal.invariants import check_world
    from rehearsal.scheduler import Scheduler

    cfg = Config()
    scheduler = Scheduler(cfg)
    state = scheduler.load()
    if state is not None and state.get("world_id") == world.world_mark(cfg.url):
        # a previous demo ran in this very world and left its flags in it: start from a clean, seeded world
        emulator.reset(cfg.url)
        world.seed(cfg.url)
        print("a previous rehearsal of this world was found: emulator reset and the legacy world seeded again")
    note = scheduler.follow_world("seed")  # the state of a world that is gone (emulator stopped) is set aside
    if note:
        print(note)
        _set_aside_comparison_state(state.get("world_id") if state else None)
    summary = scheduler.run(72)
    print(f"simulated {summary['from']} .. {summary['to']}: runs {summary['runs']}, "
          f"{summary['delivered_sms']} SMS delivered, errors {summary['errors'] or 'none'} "
          f"({summary['wall_s']}s)")
    report = check_world(cfg)
    print(report.summary())
    if not report.ok:
        raise RuntimeError("the legacy day broke the customer invariant: python -m rehearsal check")


def _reports_dir() -> Path:
    if os.environ.get("CUTOVER_REPORTS_DIR"):
        return Path(os.environ["CUTOVER_REPORTS_DIR"]) / "comparison"
    return emulator.PROJECT_DIR / "reports" / "comparison"


def _set_aside_comparison_state(world_id: str | None) -> None:
    """The comparison's table snapshots (output_compare's state_dir, default <reports>/state) belong to
    the world they were taken in: set them aside with the rehearsal state when the world changed.

    The demo's own comparison keeps its state in the state bucket (compare_each_slot, compare.yml), which
    lives in the emulator and goes with its world; what is set aside here is the local state a comparison
    without a bucket keeps (``rehearsal.comparison.compare_slot`` with no ``bucket``).
    """
    state = _reports_dir() / "state"
    if state.is_dir():
        aside = state.with_name(f"state-previous-{world_id or 'unmarked'}-{int(time.time())}")
        state.rename(aside)
        print(f"the comparison state of the previous world was set aside in {aside}")


def _playbook(name: str, *extra: str, follow: bool = False) -> str:
    """Run a playbook as an operator would, against the test inventory; raise when it fails.

    The command is printed first, in the form a user can repeat by hand from the project directory.
    ``follow``: the playbook waits for the next simulated slot (cutover.yml and rollback.yml verify the first
    execution after a switch), so the rehearsal's Follower runs slots while it waits, and only then.
    """
    bindir = os.path.dirname(sys.executable)
    shown = " ".join(shlex.quote(a) for a in ("ansible-playbook", "-i", "inventories/test", f"playbooks/{name}", *extra))
    print(f"$ {shown}", flush=True)
    cmd = [os.path.join(bindir, "ansible-playbook"), "-i", str(emulator.PROJECT_DIR / "inventories" / "test"),
           str(emulator.PROJECT_DIR / "playbooks" / name), *extra]
    env = dict(os.environ, ANSIBLE_CONFIG=str(emulator.PROJECT_DIR / "ansible.cfg"))
    following = nullcontext()
    if follow:
        from rehearsal.config import Config
        from rehearsal.follow import Follower  # comes with cutover.yml / rollback.yml

        following = Follower(Config())
    with following:
        proc = subprocess.run(cmd, cwd=emulator.PROJECT_DIR, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():  # what the operator reads: the printed messages and the recap
        text = line.strip()
        if text.startswith('"msg": "') and len(text) < 400:
            print("   " + text[8:-1].replace('\\"', '"'))
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):] if "PLAY RECAP" in proc.stdout else proc.stdout[-2000:]
    print(recap.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed (rc {proc.returncode}): {proc.stdout[-3000:]}{proc.stderr[-1000:]}")
    return proc.stdout


def step_bootstrap() -> None:
    """Phase 0: the migration's ledger table and state bucket (every later playbook requires them)."""
    _playbook("bootstrap.yml")


def step_deploy_image() -> None:
    """Story 5.1: build a small image archive as `docker save` would and push it through the ECR API."""
    from rehearsal.image_archive import build_archive

    if not os.environ.get("CUTOVER_IMAGE_ARCHIVE"):  # an operator's own archive is pushed as it is
        archive = build_archive(emulator.state_dir() / "naver-sms-automation.tar", layout="oci",
                                layers=[6 * 1024 * 1024, 64 * 1024])
        os.environ["CUTOVER_IMAGE_ARCHIVE"] = str(archive)
        print(f"generated image archive {archive} (OCI layout as Docker 25+ saves it, 2 layers)")
    _playbook("deploy_image.yml")


def step_create_function() -> None:
    """Story 5.2: role, function by digest with version and alias live, rule DISABLED in shadow mode."""
    _playbook("create_function.yml")


def step_monitoring() -> None:
    """Story 5.4: SNS topics and subscriptions, the seed's alarms, the dashboard; Decision Point 1 needs them."""
    from rehearsal import notify_recorder

    try:  # the alarm notifications of the rehearsal land here (stopped with `python -m rehearsal.notify_recorder stop`)
        pid = notify_recorder.start()
        print(f"notify recorder at {notify_recorder.notify_url()} (pid {pid}) writes {notify_recorder.record_file()}")
    except RuntimeError as exc:
        print(f"notify recorder not started ({exc}): alarm notifications will be recorded as undelivered")
    _playbook("monitoring.yml")


SLOT_DEMO = timedelta(minutes=20)


def _clock(cfg=None):
    """(config, scheduler, the simulated clock) of the world at `cfg` (default: the demo's)."""
    from datetime import datetime

    from rehearsal.config import Config
    from rehearsal.scheduler import Scheduler

    cfg = cfg or Config()
    scheduler = Scheduler(cfg)
    return cfg, scheduler, datetime.fromisoformat(scheduler.state()["now"].replace("Z", "+00:00"))


def step_seed_new_table() -> None:
    """Story 5.3, first step: an on-demand backup of sms, sms_v2 restored from it (never overwritten)."""
    _playbook("seed_new_table.yml", "--diff")


_PARALLEL_FROM = []  # the simulated clock when the parallel run started (the post-cutover SMS baseline)


def step_start_parallel() -> None:
    """Story 5.3: with the recorded Decision Point 1 go, both rules aligned, the new one in shadow, the baseline."""
    from rehearsal.comparison import grace

    _cfg, _scheduler, now = _clock()
    _PARALLEL_FROM.append(now)
    # the comparison's baseline is taken at the simulated time (the last slot that ran)
    _playbook("start_parallel.yml", "--diff", "-e", f"cutover_compare_as_of={(now - SLOT_DEMO + grace()).isoformat()}")


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


ACK = {"by": "make demo", "ref": "CHG0000001"}
# Shortened windows of the rehearsal (the rules are production's; only their length is shorter):
PARALLEL_SLOTS = 12          # a parallel run of 4 simulated hours instead of a week
DP2_WINDOW_DAYS = 0.125      # Decision Point 2 judges 9 slots instead of 504
POST_DAY_MINUTES = 60        # a post-cutover "day" of 1 simulated hour (3 slots) instead of 24 h: the week
                             # stays in the daytime hours the short parallel run saw (its SMS baseline)
# The emulator keeps no alarm history and cannot replay metric-math alarms (the error-rate alarms): on the
# rehearsal the post-cutover checks and DP3 judge the duration alarm, and the error rate from the metrics.
POST_ALARMS = ["naver-sms-cutover-v2-duration"]
POST_DAYS = 7
NOTES: list = []


def _note(text: str) -> None:
    print(f"NOTE: {text}")
    if text not in NOTES:
        NOTES.append(text)


def step_gate_dp1() -> None:
    """Decision Point 1 (gate.yml decision=parallel): image, function, alias, rule, monitoring, backup, sms_v2
    seeded from it (seed_new_table.yml), shadow probe; recorded in the ledger, where start_parallel.yml
    requires its go."""
    acks = json.dumps({"cutover_gate_acks": {"rollback_rehearsed": ACK}})
    _playbook("gate.yml", "-e", "decision=parallel", "-e", acks)


def step_compare_slots() -> None:
    """Story 5.4: run old live + new shadow slot by slot, compare after each, then compare.yml once."""
    from rehearsal.comparison import grace

    _note(f"the parallel run lasts {PARALLEL_SLOTS} slots ({PARALLEL_SLOTS // 3} simulated hours), not a week: "
          f"Decision Point 2 judges {round(DP2_WINDOW_DAYS * 72)} slots (-e cutover_gate_window_days={DP2_WINDOW_DAYS})")
    cfg, _scheduler, _now = _clock()
    now = compare_each_slot(cfg, PARALLEL_SLOTS - 1, _reports_dir())
    _clock()[1].run(1)
    _playbook("compare.yml", "-e", f"cutover_compare_as_of={_iso(now + grace())}")


def compare_each_slot(cfg, count: int, reports: Path, show=print, jitter_s=None):
    """`count` slots of old live + new shadow, each compared as it settles (in-process, the comparison's state in
    the state bucket, as compare.yml keeps it), each compared slot shown; -> the clock after them (the time of the
    next slot; the last comparison ran one slot earlier plus grace()). ``jitter_s``: as ``python -m rehearsal run``."""
    from rehearsal.comparison import compare_slot, grace

    _cfg, scheduler, now = _clock(cfg)
    first_shadow = _iso(now)
    for _ in range(count):  # each comparison reports the slot settled two slots before
        scheduler.run(1, jitter_s=jitter_s)
        result = compare_slot(now + grace(), reports, cfg, bucket=f"naver-sms-cutover-state-{cfg.account_id}")
        now += SLOT_DEMO
        for slot, row in result["slots"].items():
            if slot < first_shadow:
                continue
            show(f"{slot}: {row['match_percentage']} % match, matched {row['matched']}, late {row['late']}, "
                 f"discrepancies {row['discrepancies']}; SMS old {row['sms_sent']['old']['total']} / new "
                 f"{row['sms_sent']['new']['total']} (new delivered {row['sms_delivered']['new']})")
    return now


def step_gate_dp2() -> None:
    """Decision Point 2 (gate.yml decision=cutover) over the shortened window, at the simulated clock."""
    _playbook("gate.yml", "-e", "decision=cutover", *dp2_args(_clock()[2]))


def dp2_args(now, ack=None) -> tuple:
    """gate.yml's extra vars for Decision Point 2 at the simulated clock `now` (shortened window, acknowledgements)."""
    from rehearsal.comparison import grace

    ack = ack or ACK
    acks = json.dumps({"cutover_gate_acks": {"rollback_practised": ack, "team_comfortable": ack, "po_approval": ack}})
    return ("-e", f"cutover_gate_window_days={DP2_WINDOW_DAYS}",
            "-e", f"cutover_gate_as_of={_iso(now - SLOT_DEMO + grace())}", "-e", acks)


class Skipped(Exception):
    """A phase whose playbook is not in this checkout yet."""


def _require(playbook: str) -> None:
    if not (emulator.PROJECT_DIR / "playbooks" / playbook).exists():
        raise Skipped(f"playbooks/{playbook} is not in this checkout yet")


def step_cutover() -> None:
    """Story 5.6: the switch in a quiet window (the follower runs the slot its verification waits for)."""
    _require("cutover.yml")
    _playbook("cutover.yml", follow=True)


def step_live_slots() -> None:
    """Three slots with the new function live, then the invariant so far."""
    cfg, scheduler, _now = _clock()
    summary = scheduler.run(3)
    print(f"simulated {summary['from']} .. {summary['to']}: runs {summary['runs']}, {summary['delivered_sms']} SMS "
          f"delivered, errors {summary['errors'] or 'none'}")
    _invariant(cfg)


def step_rollback() -> None:
    """Rollback scenario 2 (reconcile sms_v2 -> sms, then the old rule back), timed against its SLA."""
    _require("rollback.yml")
    _playbook("rollback.yml", "-e", "scenario=2", follow=True)
    _cfg, scheduler, _now = _clock()
    scheduler.run(1)


_LIVE_SINCE = []  # the simulated clock after the last cutover.yml (the post-cutover days count from its switch)


def step_recutover() -> None:
    """The cutover again (the Decision Point 2 go is still recent)."""
    _playbook("cutover.yml", follow=True)
    _LIVE_SINCE.append(_clock()[2])


def step_post_cutover_days() -> None:
    """Story 5.7: the post-cutover days, the daily check after day 1 and day 7, Decision Point 3 on day 7."""
    _note(f"a post-cutover day lasts {POST_DAY_MINUTES} simulated minutes, not 24 h "
          f"(-e cutover_post_day_minutes={POST_DAY_MINUTES}); DP3 waits {POST_DAYS} such days")
    _note("the daily check runs after day 1 and after day 7 here (the same command on days 2-6)")
    _note("the emulator has no alarm history (metric-math alarms cannot be replayed): the post-cutover checks and "
          f"DP3 judge {', '.join(POST_ALARMS)} and the error rate from the metrics")
    _cfg, _scheduler, _now = _clock()
    # the SMS baseline is the comparison's count of the parallel run: from its start to the (last) cutover
    live_since = _LIVE_SINCE[-1] if _LIVE_SINCE else _now
    parallel_from = _PARALLEL_FROM[-1] if _PARALLEL_FROM else live_since - PARALLEL_SLOTS * SLOT_DEMO
    for args in post_cutover_days(None, live_since, parallel_from):
        _playbook("post_cutover.yml", *args)


def post_cutover_days(cfg, live_since, parallel_from, ack=None):
    """The post-cutover week on the simulated clock of the world at `cfg` (default: the demo's): yields the
    extra vars of post_cutover.yml for day 1, then (after running the slots until day 7 is complete) for day 7
    with Decision Point 3's acknowledgements; the caller runs the playbook between the two."""
    from rehearsal.comparison import grace

    ack = ack or ACK
    _cfg, scheduler, _now = _clock(cfg)
    acks = json.dumps({"cutover_gate_acks": {"zero_customer_complaints": ack, "po_approval": ack}})
    parallel_days = (live_since - parallel_from + SLOT_DEMO) / timedelta(days=1)
    _note(f"the SMS baseline is the parallel run's comparison, from its start to the last cutover "
          f"(-e cutover_post_parallel_days={parallel_days:.4f}, not a week)")
    common = ("-e", f"cutover_post_day_minutes={POST_DAY_MINUTES}", "-e", f"cutover_post_days={POST_DAYS}",
              "-e", f"cutover_post_parallel_days={parallel_days:.4f}",
              "-e", json.dumps({"cutover_post_alarms": POST_ALARMS}))
    scheduler.run(1)  # the live slots were day 1; its last run settles
    _cfg, _scheduler, now = _clock(cfg)
    yield (*common, "-e", "post_cutover_day=1", "-e", f"post_cutover_as_of={_iso(now - SLOT_DEMO + grace())}")
    # day 7 counts from the last switch (the re-cutover, a few slots after the first cutover): run the
    # simulated days until it is complete, one slot to spare
    week_done = live_since + timedelta(minutes=POST_DAY_MINUTES * POST_DAYS) + SLOT_DEMO
    if now < week_done:
        scheduler.run(-(-(week_done - now) // SLOT_DEMO))  # whole slots, rounded up
        _cfg, _scheduler, now = _clock(cfg)
    yield (*common, "-e", f"post_cutover_as_of={_iso(now - SLOT_DEMO + grace())}", "-e", acks)


def step_decommission() -> None:
    """Day 14: old rule disabled (kept), old function archived 30 days, unused layer versions deleted."""
    _playbook("decommission.yml", "--diff")


def _invariant(cfg) -> None:
    from rehearsal.invariants import check_world

    report = check_world(cfg)
    print(report.summary())
    if not report.ok:
        raise RuntimeError("the customer invariant is broken: python -m rehearsal check")


def step_invariant() -> None:
    """The customer invariant over the whole simulated span: 0 missing, 0 twice, 0 late."""
    from rehearsal.config import Config

    _invariant(Config())


STEPS = [
    ("start the local AWS", step_emulator),
    ("seed the legacy world", step_seed_world),
    ("run a simulated day of the legacy system alone", step_legacy_day),
    ("0 create the migration's ledger table and state bucket", step_bootstrap),
    ("5.1 push the image to ECR", step_deploy_image),
    ("5.2 create the new function, alias and DISABLED rule", step_create_function),
    ("5.4 monitoring: SNS topics, alarms, dashboard", step_monitoring),
    ("5.3 back up sms and seed sms_v2 from the backup", step_seed_new_table),
    ("DP1 Decision Point 1: Go/No-Go for the parallel run", step_gate_dp1),
    ("5.3 start the parallel run (requires the DP1 go): new rule in shadow", step_start_parallel),
    ("5.4 run both side by side and compare every slot", step_compare_slots),
    ("DP2 Decision Point 2: Go/No-Go for the cutover", step_gate_dp2),
    ("5.6 cut over in a quiet window", step_cutover),
    ("live slots with the new function", step_live_slots),
    ("rollback scenario 2 (state carried back)", step_rollback),
    ("5.6 cut over again", step_recutover),
    ("5.7 post-cutover days and Decision Point 3", step_post_cutover_days),
    ("day 14 decommission the old function", step_decommission),
    ("customer invariant over the whole span", step_invariant),
]


def run(steps=None) -> list:
    """Run the steps in order; -> [(title, seconds, outcome)]. A failed step stops the run; a step whose
    playbook is not in the checkout yet is skipped, and so are the ones after it (they build on it),
    except the final invariant, which holds over whatever ran."""
    table, skipping = [], None
    for number, (title, step) in enumerate(steps or STEPS, 1):
        started = time.monotonic()
        print(f"\n=== {number}. {title}", flush=True)
        if skipping and step is not step_invariant:
            print(f"skipped: {skipping}")
            table.append((title, 0.0, "skipped"))
            continue
        try:
            step()
        except Skipped as exc:
            skipping = str(exc)
            print(f"skipped: {skipping}")
            table.append((title, time.monotonic() - started, "skipped"))
            continue
        except Exception as exc:  # noqa: BLE001 - the demo reports and stops
            print(f"!!! step {number} ({title}) failed: {exc}", file=sys.stderr)
            table.append((title, time.monotonic() - started, "FAILED"))
            break
        table.append((title, time.monotonic() - started, "ok"))
        print(f"--- {title}: done in {table[-1][1]:.1f}s", flush=True)
    return table


def print_table(table) -> None:
    width = max(len(title) for title, _s, _o in table)
    print("\n" + f"{'phase':<{width}}  {'time':>7}  outcome")
    for title, seconds, outcome in table:
        print(f"{title:<{width}}  {seconds:6.1f}s  {outcome}")
    print(f"{'total':<{width}}  {sum(s for _t, s, _o in table):6.1f}s")
    for note in NOTES:
        print(f"NOTE: {note}")


def main() -> int:
    table = run()
    print_table(table)
    if any(outcome == "FAILED" for _t, _s, outcome in table):
        return 1
    print("\ndemo finished: every step above ran against the local emulator"
          + (" (some skipped: see the table)" if any(o == "skipped" for _t, _s, o in table) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
