"""`make demo`: the whole rehearsal against the local emulator, phase by phase.

Each step is a function; the epic's issues add theirs to STEPS in order.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
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

    Hook for the state bucket: once the comparison keeps its state in the S3 state bucket
    (cutover_state_bucket), that state lives in the emulator and goes with its world; then only a
    local copy (if any) needs setting aside here, and this function is where to do it.
    """
    state = _reports_dir() / "state"
    if state.is_dir():
        aside = state.with_name(f"state-previous-{world_id or 'unmarked'}-{int(time.time())}")
        state.rename(aside)
        print(f"the comparison state of the previous world was set aside in {aside}")


def _playbook(name: str, *extra: str) -> None:
    """Run a playbook as an operator would, against the test inventory; raise when it fails."""

    bindir = os.path.dirname(sys.executable)
    cmd = [os.path.join(bindir, "ansible-playbook"), "-i", str(emulator.PROJECT_DIR / "inventories" / "test"),
           str(emulator.PROJECT_DIR / "playbooks" / name), *extra]
    env = dict(os.environ, ANSIBLE_CONFIG=str(emulator.PROJECT_DIR / "ansible.cfg"))
    proc = subprocess.run(cmd, cwd=emulator.PROJECT_DIR, env=env, capture_output=True, text=True)
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):] if "PLAY RECAP" in proc.stdout else proc.stdout[-2000:]
    print(recap.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed (rc {proc.returncode}): {proc.stdout[-3000:]}{proc.stderr[-1000:]}")


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


def _clock():
    from datetime import datetime

    from rehearsal.config import Config
    from rehearsal.scheduler import Scheduler

    cfg = Config()
    scheduler = Scheduler(cfg)
    return cfg, scheduler, datetime.fromisoformat(scheduler.state()["now"].replace("Z", "+00:00"))


def step_start_parallel() -> None:
    """Story 5.3: Decision Point 1, backup of sms, sms_v2 from it, both rules aligned, new one in shadow."""
    from rehearsal.comparison import grace

    _cfg, _scheduler, now = _clock()
    # the comparison's baseline is taken at the simulated time (the last slot that ran)
    _playbook("start_parallel.yml", "--diff", "-e", f"cutover_compare_as_of={(now - SLOT_DEMO + grace()).isoformat()}")


def step_compare_slots() -> None:
    """Story 5.4: run old live + new shadow slot by slot, compare after each, then compare.yml once."""
    from rehearsal.comparison import compare_slot, grace

    cfg, scheduler, now = _clock()
    first_shadow = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    reports = _reports_dir()
    for _ in range(8):  # each comparison reports the slot settled two slots before
        scheduler.run(1)
        result = compare_slot(now + grace(), reports, cfg, bucket=f"naver-sms-cutover-state-{cfg.account_id}")
        now += SLOT_DEMO
        for slot, row in result["slots"].items():
            if slot < first_shadow:
                continue
            print(f"{slot}: {row['match_percentage']} % match, matched {row['matched']}, late {row['late']}, "
                  f"discrepancies {row['discrepancies']}; SMS old {row['sms_sent']['old']['total']} / new "
                  f"{row['sms_sent']['new']['total']} (new delivered {row['sms_delivered']['new']})")
    scheduler.run(1)
    _playbook("compare.yml", "-e", f"cutover_compare_as_of={(now + grace()).isoformat()}")


STEPS = [
    ("start the local AWS", step_emulator),
    ("seed the legacy world", step_seed_world),
    ("run a simulated day of the legacy system alone", step_legacy_day),
    ("0 create the migration's ledger table and state bucket", step_bootstrap),
    ("5.1 push the image to ECR", step_deploy_image),
    ("5.2 create the new function, alias and DISABLED rule", step_create_function),
    ("5.4 monitoring: SNS topics, alarms, dashboard", step_monitoring),
    ("5.3 start the parallel run: backup, sms_v2 seeded, new rule in shadow", step_start_parallel),
    ("5.4 run both side by side and compare every slot", step_compare_slots),
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
