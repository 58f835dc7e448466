"""dynamodb_state against the emulator: backup waited for, restore under a new name, never overwrite."""
from __future__ import annotations

import pytest

from tests.ansible_runner import run_playbook

PLAYBOOK = """
- name: Back up a table and create another from the backup
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/cutover.local.aws: "{{ cutover_aws }}"
  tasks:
    - name: Take the backup
      dynamodb_state:
        action: backup
        table: sms
        backup_name: sms-before-parallel-run
    - name: Restore it under the new name
      dynamodb_state:
        action: restore
        table: sms
        backup_name: sms-before-parallel-run
        target_table: sms_v2
"""


def _table(ddb, name, items):
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "booking_num", "KeyType": "HASH"},
                                {"AttributeName": "phone", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "booking_num", "AttributeType": "S"},
                                           {"AttributeName": "phone", "AttributeType": "S"}])
    for number in range(items):
        ddb.put_item(TableName=name, Item={"booking_num": {"S": f"1051_{number}"}, "phone": {"S": "010"},
                                           "confirm_sms": {"BOOL": True}})


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "state.yml"
    path.write_text(PLAYBOOK)
    return str(path)


def test_check_apply_check_apply(aws, proxy, playbook):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 30)
    env = {"CUTOVER_EMULATOR_URL": proxy.url}

    check = run_playbook(playbook, check=True, diff=True, env=env)
    assert check.rc == 0, check.messages()
    assert check.changed == 2 and proxy.mutating_calls() == []

    apply = run_playbook(playbook, env=env)
    assert apply.rc == 0, apply.messages()
    assert apply.changed == 2
    assert {c["operation"] for c in proxy.mutating_calls()} == {"CreateBackup", "RestoreTableFromBackup"}
    assert ddb.describe_table(TableName="sms_v2")["Table"]["TableStatus"] == "ACTIVE"
    assert ddb.scan(TableName="sms_v2")["Items"] == ddb.scan(TableName="sms")["Items"]
    (backup,) = ddb.list_backups(TableName="sms")["BackupSummaries"]
    assert backup["BackupName"] == "sms-before-parallel-run" and backup["BackupStatus"] == "AVAILABLE"

    proxy.clear()
    for check_mode in (True, False):
        again = run_playbook(playbook, check=check_mode, env=env)
        assert again.rc == 0 and again.changed == 0, again.messages()
    assert proxy.mutating_calls() == []
    assert len(ddb.list_backups(TableName="sms")["BackupSummaries"]) == 1


def test_an_existing_target_table_is_never_overwritten(aws, playbook):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 5)
    _table(ddb, "sms_v2", 2)
    run = run_playbook(playbook)
    assert run.rc == 0, run.messages()
    (restore,) = run.task_results("Restore")
    assert restore["changed"] is False and restore["target_existed"] is True
    assert len(ddb.scan(TableName="sms_v2")["Items"]) == 2


def test_a_missing_source_table_fails_before_any_write(aws, proxy, playbook):
    run = run_playbook(playbook, env={"CUTOVER_EMULATOR_URL": proxy.url})
    assert run.rc != 0
    assert "table sms does not exist" in run.messages()
    assert proxy.mutating_calls() == []
