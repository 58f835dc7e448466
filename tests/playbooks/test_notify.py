"""roles/notify: a phase announcement reaches Slack and Telegram (the recorder), secrets never printed."""
from __future__ import annotations

import json

from rehearsal import world, world_data
from tests.ansible_runner import run_playbook
from tests.notify_fixture import notify  # noqa: F401 (fixture)

ANNOUNCE = {"notify_event": "cutover_start", "notify_what": "naverplace_send_inform_v2 goes live",
            "notify_baseline": "504 executions compared, 100 % match, 0 errors", "notify_when": "2026-12-03T02:10:00Z"}


def test_a_phase_announcement_reaches_slack_and_telegram_and_prints_no_secret(notify, emulator, bootstrapped):
    world.seed(emulator)
    run = run_playbook("notify.yml", extra_vars=ANNOUNCE, env={"ANSIBLE_VERBOSITY": "3"})
    assert run.rc == 0, run.messages()
    lines = notify()
    assert [(line["channel"], line["via"]) for line in lines] == [("slack", "direct"), ("telegram", "direct")]
    slack, telegram = lines[0]["body"]["text"], lines[1]["body"]["text"]
    assert slack == telegram
    assert slack.splitlines() == [
        "[naver-sms cutover · test] Cutover starts",
        "What: naverplace_send_inform_v2 goes live",
        "When: 2026-12-03T02:10:00Z",
        "Baseline: 504 executions compared, 100 % match, 0 errors",
        "Rollback SLA: 15 minutes (playbooks/rollback.yml)",
        "Ticket: none",
    ]
    assert lines[1]["body"]["chat_id"] == "-1000000000001"
    names = world.Names.from_inventory().secrets
    secrets = world_data.secret_values(names)
    for key in ("alerts_slack", "alerts_telegram"):
        for value in json.loads(secrets[names[key]]).values():
            assert value not in run.stdout + run.stderr, f"a value of {names[key]} was printed"


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
