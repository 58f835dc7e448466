"""dynamodb_state against the emulator: backup waited for, restore under a new name, never overwrite."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.module_runner import run_module

BACKUP = {"table": "sms", "backup_name": "sms-before-parallel-run"}
RESTORE = dict(BACKUP, target_table="sms_v2")


def backup_and_restore(endpoint, check=False, diff=False) -> list[dict]:
    """Take the backup, then restore it under the new name (what playbooks/seed_new_table.yml does; that
    playbook's four steps: tests/playbooks/test_start_parallel.py); stops at a failed step, as a play does."""
    results = []
    for args in (dict(BACKUP, action="backup"), dict(RESTORE, action="restore")):
        results.append(run_module("dynamodb_state", args, endpoint, check=check, diff=diff))
        if results[-1].get("failed"):
            break
    return results


def changed(results) -> int:
    assert not any(r.get("failed") for r in results), results
    return sum(bool(r["changed"]) for r in results)


def _table(ddb, name, items):
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "booking_num", "KeyType": "HASH"},
                                {"AttributeName": "phone", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "booking_num", "AttributeType": "S"},
                                           {"AttributeName": "phone", "AttributeType": "S"}])
    for number in range(items):
        ddb.put_item(TableName=name, Item={"booking_num": {"S": f"1051_{number}"}, "phone": {"S": "010"},
                                           "confirm_sms": {"BOOL": True}})


def test_check_apply_check_apply(aws, proxy):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 30)

    assert changed(backup_and_restore(proxy.url, check=True, diff=True)) == 2
    assert proxy.mutating_calls() == []

    assert changed(backup_and_restore(proxy.url)) == 2
    assert {c["operation"] for c in proxy.mutating_calls()} == {"CreateBackup", "RestoreTableFromBackup"}
    assert ddb.describe_table(TableName="sms_v2")["Table"]["TableStatus"] == "ACTIVE"
    assert ddb.scan(TableName="sms_v2")["Items"] == ddb.scan(TableName="sms")["Items"]
    (backup,) = ddb.list_backups(TableName="sms")["BackupSummaries"]
    assert backup["BackupName"] == "sms-before-parallel-run" and backup["BackupStatus"] == "AVAILABLE"

    proxy.clear()
    for check_mode in (True, False):
        assert changed(backup_and_restore(proxy.url, check=check_mode)) == 0
    assert proxy.mutating_calls() == []
    assert len(ddb.list_backups(TableName="sms")["BackupSummaries"]) == 1


def test_an_existing_target_table_is_never_overwritten(aws, emulator):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 5)
    _table(ddb, "sms_v2", 2)
    results = backup_and_restore(emulator)
    assert changed(results) == 1
    restore = results[1]
    assert restore["changed"] is False and restore["target_existed"] is True
    assert len(ddb.scan(TableName="sms_v2")["Items"]) == 2


def test_a_missing_source_table_fails_before_any_write(aws, proxy):
    (backup,) = backup_and_restore(proxy.url)
    assert backup.get("failed")
    assert "table sms does not exist" in backup["msg"]
    assert proxy.mutating_calls() == []


def _put(ddb, table, num, **attrs):
    item = {"booking_num": {"S": f"1051_{num}"}, "phone": {"S": "010"}}
    item.update(attrs)
    ddb.put_item(TableName=table, Item=item)


def state(defaults, endpoint, check=False, diff=False, **extra):
    return run_module("dynamodb_state", dict(defaults, **extra), endpoint, check=check, diff=diff)


def reconcile(endpoint, check=False, diff=False, **extra):
    return state({"action": "reconcile", "table": "sms_v2", "target_table": "sms"}, endpoint, check, diff, **extra)


def test_reconcile_ors_flags_back_creates_missing_keeps_the_rest(aws, proxy):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 0)
    _table(ddb, "sms_v2", 0)
    true, false = {"BOOL": True}, {"BOOL": False}
    # 1: new side learned remind; 2: old side knows more (never cleared); 3: only in sms_v2; 4: equal
    _put(ddb, "sms", 1, confirm_sms=true, remind_sms=false, note={"S": "kept"})
    _put(ddb, "sms_v2", 1, confirm_sms=true, remind_sms=true, v2_only={"S": "not copied"})
    _put(ddb, "sms", 2, confirm_sms=true, remind_sms=true)
    _put(ddb, "sms_v2", 2, confirm_sms=false, remind_sms=false)
    _put(ddb, "sms_v2", 3, confirm_sms=true, name={"S": "김"}, v2_only={"S": "not copied"})
    _put(ddb, "sms", 4, option_sms=true)
    _put(ddb, "sms_v2", 4, option_sms=true)
    before = {i["booking_num"]["S"]: i for i in ddb.scan(TableName="sms")["Items"]}

    check = reconcile(proxy.url, check=True, diff=True)
    assert check["changed"] and not check.get("failed"), check
    assert {k: check["reconcile"][k] for k in ("source_items", "created", "updated", "unchanged", "writes")} == \
        {"source_items": 4, "created": 1, "updated": 1, "unchanged": 2, "writes": 2}
    assert check["diff"]["after"] == {"table": "sms", "created": 1, "updated": 1}
    assert proxy.mutating_calls() == []
    assert {i["booking_num"]["S"]: i for i in ddb.scan(TableName="sms")["Items"]} == before

    done = reconcile(proxy.url)
    assert done["changed"] and done["reconcile"]["writes"] == 2, done
    assert [c["operation"] for c in proxy.mutating_calls()] == ["BatchWriteItem"]
    after = {i["booking_num"]["S"]: i for i in ddb.scan(TableName="sms")["Items"]}
    assert after["1051_1"]["remind_sms"] == true and after["1051_1"]["note"] == {"S": "kept"}
    assert "v2_only" not in after["1051_1"] and "v2_only" not in after["1051_3"]
    assert after["1051_2"]["confirm_sms"] == true and after["1051_2"]["remind_sms"] == true
    assert after["1051_3"]["confirm_sms"] == true and after["1051_3"]["name"] == {"S": "김"}
    assert len(ddb.scan(TableName="sms_v2")["Items"]) == 4  # the source is never written

    for check_mode in (True, False):
        proxy.clear()
        again = reconcile(proxy.url, check=check_mode)
        assert not again["changed"] and again["reconcile"]["writes"] == 0, again
        assert proxy.mutating_calls() == []


def test_reconcile_retries_throttled_batches(aws, proxy):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 0)
    _table(ddb, "sms_v2", 60)
    proxy.set_faults(rate=1.0, kinds=["throttle"], max_faults=2, operations=["BatchWriteItem"])
    done = reconcile(proxy.url)
    assert done["changed"] and done["reconcile"]["created"] == 60, done
    assert len(ddb.scan(TableName="sms")["Items"]) == 60


@pytest.mark.parametrize("args, message", [
    ({"target_table": "sms_v2"}, "never works a table onto itself"),
    ({"table": "nope"}, "table nope does not exist"),
])
def test_reconcile_refuses_bad_input_before_any_write(aws, proxy, args, message):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 1)
    _table(ddb, "sms_v2", 1)
    failed = reconcile(proxy.url, **args)
    assert failed.get("failed") and message in failed["msg"], failed
    assert proxy.mutating_calls() == []


def align(endpoint, check=False, diff=False, **extra):
    return state({"action": "align", "table": "sms", "target_table": "sms_v2"}, endpoint, check, diff, **extra)


def test_align_makes_the_targets_flags_the_sources_and_keeps_the_rest(aws, proxy):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 0)
    _table(ddb, "sms_v2", 0)
    true, false = {"BOOL": True}, {"BOOL": False}
    # 1 (a): only the shadow "sent" it; 2 (b): only the old side sent it; 3: only in sms; 4: only in sms_v2;
    # 5: equal
    _put(ddb, "sms", 1, confirm_sms=false)
    _put(ddb, "sms_v2", 1, confirm_sms=true, remind_sms=false, v2_only={"S": "kept"})
    _put(ddb, "sms", 2, confirm_sms=true, remind_sms=true)
    _put(ddb, "sms_v2", 2, confirm_sms=false)
    _put(ddb, "sms", 3, confirm_sms=true, name={"S": "김"}, note={"S": "not copied"})
    _put(ddb, "sms_v2", 4, confirm_sms=true, name={"S": "이"})
    _put(ddb, "sms", 5, option_sms=true)
    _put(ddb, "sms_v2", 5, option_sms={"S": "sent"})
    sms = ddb.scan(TableName="sms")["Items"]
    before = ddb.scan(TableName="sms_v2")["Items"]

    check = align(proxy.url, check=True, diff=True)
    assert check["changed"] and not check.get("failed"), check
    assert {k: check["align"][k] for k in ("created", "updated", "unchanged", "writes", "set", "cleared")} == \
        {"created": 1, "updated": 3, "unchanged": 1, "writes": 4, "set": 3, "cleared": 2}
    assert check["diff"]["after"] == {"table": "sms_v2", "set": 3, "cleared": 2, "created": 1}
    assert proxy.mutating_calls() == [] and ddb.scan(TableName="sms_v2")["Items"] == before

    done = align(proxy.url)
    assert done["changed"] and done["align"]["written"] == 4, done
    assert [c["operation"] for c in proxy.mutating_calls()] == ["UpdateItem"] * 4
    after = {i["booking_num"]["S"]: i for i in ddb.scan(TableName="sms_v2")["Items"]}
    assert after["1051_1"]["confirm_sms"] == false and after["1051_1"]["v2_only"] == {"S": "kept"}
    assert after["1051_2"]["confirm_sms"] == true and after["1051_2"]["remind_sms"] == true
    assert after["1051_3"]["confirm_sms"] == true and after["1051_3"]["name"] == {"S": "김"}
    assert "note" not in after["1051_3"]
    assert after["1051_4"]["confirm_sms"] == false and after["1051_4"]["name"] == {"S": "이"}
    assert after["1051_5"]["option_sms"] == {"S": "sent"}  # same truth: not rewritten
    assert ddb.scan(TableName="sms")["Items"] == sms  # the source is never written

    for check_mode in (True, False):
        proxy.clear()
        again = align(proxy.url, check=check_mode, diff=True)
        assert not again["changed"] and again["align"]["writes"] == 0, again
        assert proxy.mutating_calls() == []


def test_align_past_its_deadline_writes_nothing_and_says_so(aws, proxy):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 3)
    _table(ddb, "sms_v2", 0)
    # switched 2 min before the next fire, 100 s ago on the real clock: 20 s left, less than the 30 s margin
    switched = (datetime.now(timezone.utc) - timedelta(seconds=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = align(proxy.url, quiet={"at": "2026-11-26T03:18:00Z", "next_fire": "2026-11-26T03:20:00Z"},
                 switched_at=switched)
    assert late.get("failed"), late
    assert "quiet window is closing" in late["msg"] and "0 of 3 item(s) of sms_v2 aligned, 3 not" in late["msg"]
    assert proxy.mutating_calls() == []
    ok = align(proxy.url, quiet={"at": "2026-11-26T03:10:00Z", "next_fire": "2026-11-26T03:20:00Z"},
               switched_at=switched)
    assert ok["changed"] and ok["align"]["written"] == 3 and 400 < ok["align"]["budget_s"] < 470, ok


@pytest.mark.parametrize("args, message", [
    ({"target_table": "sms"}, "never works a table onto itself"),
    ({"quiet": {"at": "2026-11-26T03:10:00Z", "next_fire": "2026-11-26T03:20:00Z"}}, "go together"),
    ({"safety_margin": 1}, "5 to 300"),
])
def test_align_refuses_bad_input_before_any_write(aws, proxy, args, message):
    ddb = aws("dynamodb")
    _table(ddb, "sms", 1)
    _table(ddb, "sms_v2", 0)
    failed = align(proxy.url, **args)
    assert failed.get("failed") and message in failed["msg"], failed
    assert proxy.mutating_calls() == []
