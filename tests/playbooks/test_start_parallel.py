"""seed_new_table.yml and start_parallel.yml, the two steps of story 5.3 around Decision Point 1.

seed_new_table.yml: the backup of sms and sms_v2 restored from it (the four idempotence steps; an existing
sms_v2 is never overwritten). start_parallel.yml: without a recorded, unexpired Decision Point 1 go it is
refused before any write, naming gate.yml -e decision=parallel (no go at all: tests/test_bad_inputs.py).
The whole path (seed, DP1 go, both rules, baseline) runs in `make demo`, molecule/rollback's prepare and
tests/reliability/test_phases_under_faults.py.
"""
from __future__ import annotations

import time

import boto3

from module_utils.cutover.ledger import decision_item
from rehearsal import world
from tests.ansible_runner import run_playbook
from tests.conftest import LEDGER_TABLE, migration_writes
from tests.module_runner import run_module

OLD_RULE = "naverplace_send_inform_trigger"


def record_dp1(url: str, outcome: str = "go", hours_ago: float = 0.0) -> dict:
    """A Decision Point 1 record as gate.yml writes it (24 h expiry), recorded `hours_ago`."""
    item = decision_item("parallel", outcome, [], {}, 24, "test", time.time() - hours_ago * 3600)
    boto3.client("dynamodb", endpoint_url=url, region_name="ap-northeast-2", aws_access_key_id="testing",
                 aws_secret_access_key="testing").put_item(
        TableName=LEDGER_TABLE, Item={k: {"S": str(v)} for k, v in item.items()})
    return item


def start_parallel(proxy, tmp_path, check=False, **extra):
    return run_playbook("start_parallel.yml", extra_vars=extra or None, check=check,
                        env={"CUTOVER_EMULATOR_URL": proxy.url, "CUTOVER_REPORTS_DIR": str(tmp_path)})


def test_without_a_recent_dp1_go_or_with_a_wrong_old_rule_nothing_changes(bootstrapped, emulator, aws, proxy,
                                                                           tmp_path):
    """One seeded world, three refusals in turn, each meeting the ledger's latest DP1 record: an expired go (in
    check mode), a no_go (an apply; the DP1 check is one read-only step, the same in check mode and in an apply),
    then a recent go with a wrong old rule name."""
    world.seed(emulator)
    for outcome, hours_ago, check, holds in (("go", 30.0, True, "(expired at"),
                                             ("no_go", 0.0, False, "the ledger holds a no_go recorded at")):
        record_dp1(emulator, outcome, hours_ago)
        proxy.clear()
        run = start_parallel(proxy, tmp_path, check=check)
        assert run.rc != 0, outcome
        text = " ".join(run.messages().split())
        for part in ("no Decision Point 1 go recorded in the last 24 h", holds,
                     "Run playbooks/gate.yml -e decision=parallel first; nothing was changed"):
            assert part in text, text
        assert proxy.mutating_calls() == []
        assert aws("events").describe_rule(Name=OLD_RULE)["ScheduleExpression"] == "rate(20 minutes)"
        assert [r["Name"] for r in aws("events").list_rules()["Rules"]] == [OLD_RULE]

    record_dp1(emulator)
    proxy.clear()
    run = start_parallel(proxy, tmp_path, cutover_old_rule="naverplace_send_inform_trigerr")
    assert run.rc != 0
    assert "rule naverplace_send_inform_trigerr does not exist (rules that target" in run.messages()
    assert OLD_RULE in run.messages()
    assert proxy.mutating_calls() == []
    assert [r["Name"] for r in aws("events").list_rules()["Rules"]] == [OLD_RULE]


def seed_new_table(proxy, tmp_path, check=False):
    proxy.clear()
    run = run_playbook("seed_new_table.yml", check=check, diff=True,
                       env={"CUTOVER_EMULATOR_URL": proxy.url, "CUTOVER_REPORTS_DIR": str(tmp_path)})
    assert run.rc == 0, run.messages()
    return run


def test_seed_new_table_backs_up_sms_and_never_overwrites_sms_v2(bootstrapped, emulator, aws, proxy, tmp_path):
    world.seed(emulator)
    ddb = aws("dynamodb")
    first_check = seed_new_table(proxy, tmp_path, check=True)
    assert first_check.changed and proxy.mutating_calls() == []
    assert ddb.list_backups(TableName="sms")["BackupSummaries"] == []
    assert "sms_v2" not in ddb.list_tables()["TableNames"]

    applied = seed_new_table(proxy, tmp_path)
    assert applied.changed
    (backup,) = ddb.list_backups(TableName="sms")["BackupSummaries"]
    assert backup["BackupName"] == "sms-before-parallel-run"
    restored = ddb.describe_table(TableName="sms_v2")["Table"]
    assert restored["RestoreSummary"]["SourceBackupArn"] == backup["BackupArn"]
    assert ddb.scan(TableName="sms_v2", Select="COUNT")["Count"] == ddb.scan(TableName="sms", Select="COUNT")["Count"]

    assert not seed_new_table(proxy, tmp_path, check=True).changed
    assert proxy.mutating_calls() == []
    # an sms_v2 that holds more than sms (the shadow runs' writes) is left as it is
    ddb.put_item(TableName="sms_v2", Item={"booking_num": {"S": "shadow-only"}, "phone": {"S": "01000000000"}})
    again = seed_new_table(proxy, tmp_path)
    assert not again.changed and migration_writes(proxy.calls()) == []
    assert "Item" in ddb.get_item(TableName="sms_v2", Key={"booking_num": {"S": "shadow-only"},
                                                            "phone": {"S": "01000000000"}})
    read = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "read", "playbook": "seed_new_table.yml"},
                      emulator)
    assert [(e["result"], e["facts"]["backup_arn"]) for e in read["events"]] == [("ok", backup["BackupArn"])] * 2
    assert read["lock"] is None
