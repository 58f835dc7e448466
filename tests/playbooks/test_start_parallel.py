"""start_parallel.yml: a red Decision Point 1 item stops the play before anything changes.

The whole path (backup, sms_v2 from it, both rules, rerun with changed=0) runs in `make demo`
after deploy_image.yml and create_function.yml.
"""
from __future__ import annotations

from rehearsal import world
from tests.ansible_runner import run_playbook


def test_without_the_new_function_nothing_is_backed_up_or_enabled(emulator, aws, proxy, tmp_path):
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
