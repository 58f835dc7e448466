"""start_parallel.yml: a red Decision Point 1 item stops the play before anything changes.

The whole path (backup, sms_v2 from it, both rules, rerun with changed=0) runs in `make demo`
after deploy_image.yml and create_function.yml.
"""
from __future__ import annotations

from rehearsal import world
from tests.ansible_runner import run_playbook


def test_without_the_new_function_nothing_is_backed_up_or_enabled(bootstrapped, emulator, aws, proxy, tmp_path):
    world.seed(emulator)
    proxy.clear()
    run = run_playbook("start_parallel.yml", env={"CUTOVER_EMULATOR_URL": proxy.url,
                                                  "CUTOVER_REPORTS_DIR": str(tmp_path)})
    assert run.rc != 0
    assert "Decision Point 1 is not met, nothing was changed" in run.messages()
    assert "function naverplace_send_inform_v2 exists as a container image" in run.messages()
    assert proxy.mutating_calls() == []
    assert aws("dynamodb").list_backups(TableName="sms")["BackupSummaries"] == []
    assert aws("events").describe_rule(Name="naverplace_send_inform_trigger")["ScheduleExpression"] == \
        "rate(20 minutes)"


def test_a_wrong_old_rule_name_is_refused_with_no_mutating_call(bootstrapped, emulator, aws, proxy, tmp_path):
    world.seed(emulator)
    proxy.clear()
    run = run_playbook("start_parallel.yml", extra_vars={"cutover_old_rule": "naverplace_send_inform_trigerr"},
                       env={"CUTOVER_EMULATOR_URL": proxy.url, "CUTOVER_REPORTS_DIR": str(tmp_path)})
    assert run.rc != 0
    assert "rule naverplace_send_inform_trigerr does not exist (rules that target" in run.messages()
    assert "naverplace_send_inform_trigger" in run.messages()
    assert proxy.mutating_calls() == []
    assert [r["Name"] for r in aws("events").list_rules()["Rules"]] == ["naverplace_send_inform_trigger"]


def test_check_mode_on_a_fresh_account_works_and_takes_no_lock(bootstrapped, emulator, proxy, tmp_path):
    """Only Decision Point 1 stops it (no function yet); the legacy rule check and the lock report pass."""
    world.seed(emulator)
    proxy.clear()
    run = run_playbook("start_parallel.yml", check=True, env={"CUTOVER_EMULATOR_URL": proxy.url,
                                                              "CUTOVER_REPORTS_DIR": str(tmp_path)})
    assert "Decision Point 1 is not met" in run.messages()
    assert "rule" not in run.messages().split("Decision Point 1")[0]
    assert proxy.mutating_calls() == []
