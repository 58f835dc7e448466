"""roles/notify: check mode announces nothing, an unknown event is refused. That an announcement reaches Slack and
Telegram (the recorder) in the runbook's shape, and prints no secret with -vvv, is checked on the notify.yml run
of tests/reliability/test_secrets.py (which scans that run for every seeded secret)."""
from __future__ import annotations

from rehearsal import world
from tests.ansible_runner import run_playbook
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.reliability.test_secrets import ANNOUNCE


def test_check_mode_announces_nothing(notify, emulator, bootstrapped):
    world.seed(emulator)
    run = run_playbook("notify.yml", extra_vars=ANNOUNCE, check=True)
    assert run.rc == 0, run.messages()
    assert notify() == []


def test_an_unknown_event_is_refused(notify, emulator, bootstrapped):
    run = run_playbook("notify.yml", extra_vars=dict(ANNOUNCE, notify_event="cutover_maybe"))
    assert run.rc != 0
    assert "cutover_maybe" in run.messages() + run.stdout
    assert notify() == []
