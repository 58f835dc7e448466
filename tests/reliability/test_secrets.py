"""Issue 13 item 6: the seeded secret values (SENS keys, Telegram tokens, Slack webhook, Naver password)
never appear in any stdout or stderr of playbooks run with -vvv, any report file, ledger item or other
DynamoDB item, state-bucket (or any S3) object, CloudWatch Logs line or SSM parameter."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rehearsal import world
from rehearsal.world_data import SECRET_MARKS
from tests.ansible_runner import run_playbook
from tests.conftest import bootstrap_state
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.secret_scan import leaks, stored_text

PROJECT_DIR = Path(__file__).resolve().parents[2]
# (playbook, extra vars), in order; each runs with -vvv: the playbooks that read the secrets. monitoring.yml
# (it reads the alert channels' secrets) is scanned the same way in the apply step of its own four-step test,
# tests/playbooks/test_monitoring.py: one -vvv run fewer here.
# notify.yml's run is also tests/playbooks/test_notify.py's announcement: what reached Slack and Telegram is
# checked here (one -vvv notify.yml run fewer there).
ANNOUNCE = {"notify_event": "cutover_start", "notify_what": "naverplace_send_inform_v2 goes live",
            "notify_baseline": "504 executions compared, 100 % match, 0 errors", "notify_when": "2026-12-03T02:10:00Z"}
RUNS = [("notify.yml", ANNOUNCE)]


@pytest.mark.slow
def test_no_secret_value_is_ever_written_anywhere(emulator, aws, notify, state_dir, tmp_path):  # noqa: F811
    world.seed(emulator)  # what seed_world.yml and bootstrap.yml make, made in-process (faster)
    bootstrap_state(emulator)
    reports = tmp_path / "reports"
    env = {"ANSIBLE_VERBOSITY": "3", "CUTOVER_REPORTS_DIR": str(reports)}
    printed = {}
    for playbook, extra in RUNS:
        run = run_playbook(playbook, extra_vars=extra, env=env)
        assert run.rc == 0, f"{playbook}: {run.messages()[-3000:]}"
        printed[playbook] = run.stdout + run.stderr
    assert_the_announcement_reached_slack_and_telegram(notify())
    # the legacy function runs two slots of the rehearsal: it reads SENS, Telegram and Naver secrets
    slots = subprocess.run([sys.executable, "-m", "rehearsal", "run", "--slots", "2", "--verbose"], cwd=PROJECT_DIR,
                           env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert slots.returncode == 0, slots.stderr[-3000:]
    printed["rehearsal run"] = slots.stdout + slots.stderr

    found = {where: leaks(text) for where, text in printed.items()}
    files = [p for d in (reports, state_dir) for p in d.rglob("*") if p.is_file()]
    assert files, "the runs wrote no report or state file: the scan would prove nothing"
    found.update({str(p): leaks(p.read_text("utf-8", "replace")) for p in files})
    stored = stored_text(aws)
    assert any(k.startswith("dynamodb:naver-sms-cutover-ledger") for k in stored)
    assert any(k.startswith("logs:") and v for k, v in stored.items()), "no log line to scan"
    found.update({where: leaks(text) for where, text in stored.items()})
    assert {where: names for where, names in found.items() if names} == {}
    # the values are in the world (the scan looks for what is really there)
    secrets = aws("secretsmanager")
    seeded = "".join(secrets.get_secret_value(SecretId=s["Name"])["SecretString"]
                     for s in secrets.list_secrets()["SecretList"])
    assert leaks(seeded) == sorted(SECRET_MARKS)


def assert_the_announcement_reached_slack_and_telegram(lines: list[dict]) -> None:
    """roles/notify: notify.yml's announcement (ANNOUNCE) in the runbook's shape, once to each channel."""
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
