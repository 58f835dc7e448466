"""cutover_ledger against the emulator: table and bucket in four steps, lock rules, events, decisions."""
from __future__ import annotations

import time

import pytest

from tests.conftest import LEDGER_TABLE, STATE_BUCKET
from tests.module_runner import run_module

ACCOUNT = "123456789012"


def ledger(url, check=False, **args):
    return run_module("cutover_ledger", dict(args, table=LEDGER_TABLE), url, check=check)


@pytest.mark.parametrize("args, expected_changes", [
    ({"action": "ensure_table"}, ["table", "point_in_time_recovery"]),
    ({"action": "ensure_bucket", "bucket": STATE_BUCKET, "account_id": ACCOUNT},
     ["exists", "versioning", "encryption", "public_access_blocked"]),
], ids=["table", "bucket"])
def test_four_steps(emulator, proxy, args, expected_changes):
    steps = []
    for check in (True, False, True, False):
        proxy.clear()
        result = ledger(proxy.url, check=check, **args)
        assert not result.get("failed"), result
        steps.append((result["changed"], result["changes"], [c["operation"] for c in proxy.mutating_calls()]))
    assert steps[0][:2] == (True, expected_changes) and steps[0][2] == []
    assert steps[1][:2] == (True, expected_changes) and steps[1][2]
    assert steps[2] == (False, [], []) and steps[3] == (False, [], [])


def test_the_table_and_bucket_are_what_bootstrap_promises(bootstrapped, aws):
    ddb, s3 = aws("dynamodb"), aws("s3")
    assert ddb.describe_table(TableName=LEDGER_TABLE)["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    pitr = ddb.describe_continuous_backups(TableName=LEDGER_TABLE)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert s3.get_bucket_versioning(Bucket=STATE_BUCKET)["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket=STATE_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert all(s3.get_public_access_block(Bucket=STATE_BUCKET)["PublicAccessBlockConfiguration"].values())


def test_missing_table_says_run_bootstrap(emulator, proxy):
    for action in ("lock", "read"):
        result = ledger(proxy.url, action=action, playbook="x.yml")
        assert result["failed"] and "run playbooks/bootstrap.yml first" in result["msg"]
    assert proxy.mutating_calls() == []


def test_a_held_lock_is_refused_naming_owner_ticket_playbook_and_age(bootstrapped):
    first = ledger(bootstrapped, action="lock", owner="ana@cron", ticket="CHG1", playbook="compare.yml")
    assert first["changed"] and first["lock"]["owner"] == "ana@cron"
    check = ledger(bootstrapped, check=True, action="lock", owner="bo@laptop", playbook="start_parallel.yml")
    assert not check.get("failed") and check["lock"]["owner"] == "ana@cron"  # check mode reports the holder
    second = ledger(bootstrapped, action="lock", owner="bo@laptop", playbook="start_parallel.yml")
    assert second["failed"]
    for part in ("owner ana@cron", "ticket CHG1", "playbook compare.yml", "s ago"):
        assert part in second["msg"]
    assert not ledger(bootstrapped, action="unlock", run_id="someone-else")["released"]
    assert ledger(bootstrapped, action="unlock", run_id=first["run_id"])["released"]
    read = ledger(bootstrapped, action="read")
    assert read["lock"] is None
    assert [(e["playbook"], e["result"]) for e in read["events"]] == [("start_parallel.yml", "refused")]


def test_unlock_with_the_run_event_releases_and_records_in_one_call(bootstrapped):
    lock = ledger(bootstrapped, action="lock", owner="ana@cron", playbook="compare.yml")
    done = ledger(bootstrapped, action="unlock", run_id=lock["run_id"],
                  event={"playbook": "compare.yml", "operator": "ana@cron", "result": "ok"})
    assert done["released"] and done["run_id"] == lock["run_id"]
    read = ledger(bootstrapped, action="read")
    assert read["lock"] is None
    assert [(e["playbook"], e["result"], e["run_id"]) for e in read["events"]] == [("compare.yml", "ok", lock["run_id"])]


def test_preflight_read_asks_the_caller_identity_first_and_reads_nothing_of_another_account(bootstrapped, proxy):
    """Preflight's one module run: GetCallerIdentity, then the ledger and the bucket only for this account."""
    args = {"action": "read", "limit": 1, "bucket": STATE_BUCKET, "account_id": ACCOUNT}
    ours = ledger(proxy.url, caller_account=ACCOUNT, **args)
    assert ours["caller"]["account"] == ACCOUNT and ours["caller"]["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:")
    assert ours["lock"] is None and ours["events"] == []
    proxy.clear()
    other = ledger(proxy.url, caller_account="654654307503", **args)
    assert other["caller"]["account"] == ACCOUNT and "lock" not in other and not other.get("failed")
    assert [c["operation"] for c in proxy.calls()] == ["GetCallerIdentity"]
    only = ledger(proxy.url, action="caller")
    assert only["caller"] == ours["caller"] and "lock" not in only
    missing = ledger(proxy.url, caller_account=ACCOUNT, **dict(args, bucket="naver-sms-cutover-state-nothere"))
    assert missing["failed"] and missing["caller"]["account"] == ACCOUNT  # what it established, also on failure


def test_an_expired_lock_needs_force_and_a_reason_and_the_takeover_is_recorded(bootstrapped, aws):
    old = time.time() - 3600
    aws("dynamodb").put_item(TableName=LEDGER_TABLE, Item={
        "pk": {"S": "lock"}, "sk": {"S": "lock"}, "owner": {"S": "ana@cron"}, "ticket": {"S": "CHG1"},
        "playbook": {"S": "compare.yml"}, "run_id": {"S": "dead-run"}, "acquired_at": {"S": "2026-01-01T00:00:00Z"},
        "acquired_epoch": {"N": str(int(old))}, "expires_epoch": {"N": str(int(old) + 1800)},
        "expires_at": {"S": "2026-01-01T00:30:00Z"}})
    refused = ledger(bootstrapped, action="lock", owner="bo@laptop", playbook="compare.yml")
    assert refused["failed"] and "-e force_unlock=true -e unlock_reason" in refused["msg"]
    no_reason = ledger(bootstrapped, action="lock", owner="bo@laptop", playbook="compare.yml", force_unlock=True)
    assert no_reason["failed"] and "force_unlock needs a reason" in no_reason["msg"]
    taken = ledger(bootstrapped, action="lock", owner="bo@laptop", playbook="compare.yml", force_unlock=True,
                   unlock_reason="cron host died")
    assert taken["changed"] and taken["taken_over"]["owner"] == "ana@cron"
    events = ledger(bootstrapped, action="read")["events"]
    takeover = [e for e in events if e["kind"] == "force_unlock"]
    assert takeover and takeover[0]["reason"] == "cron host died" and takeover[0]["operator"] == "bo@laptop"


def test_decisions_latest_per_kind(bootstrapped):
    for outcome in ("no_go", "go"):
        if outcome == "go":  # recorded_at has one-second resolution: the go in the next second
            time.sleep(1.02 - time.time() % 1)
        assert ledger(bootstrapped, action="decision", decision="cutover", outcome=outcome,
                      criteria=[{"name": "match_percentage", "ok": outcome == "go"}], evidence={"compared": 504},
                      expires_in_hours=24, decided_by="gate")["changed"]
    decisions = ledger(bootstrapped, action="read")["decisions"]
    assert decisions["cutover"]["outcome"] == "go" and decisions["cutover"]["expired"] is False
    assert decisions["cutover"]["evidence"] == {"compared": 504}
    bad = ledger(bootstrapped, action="decision", decision="cutover", outcome="go", expires_in_hours=-1)
    assert bad["failed"] and "expires_in_hours" in bad["msg"]


def test_a_bucket_of_another_account_is_refused(bootstrapped):
    result = ledger(bootstrapped, action="read", bucket="naver-sms-cutover-state-654654307503",
                    account_id="654654307503")
    assert result["failed"] and "naver-sms-cutover-state-654654307503" in result["msg"]


def test_a_missing_bucket_says_run_bootstrap(emulator):
    assert not ledger(emulator, action="ensure_table").get("failed")
    result = ledger(emulator, action="read", bucket=STATE_BUCKET, account_id=ACCOUNT)
    assert result["failed"] and f"state bucket {STATE_BUCKET} does not exist: run playbooks/bootstrap.yml" in result["msg"]


def test_an_object_changed_by_someone_else_since_it_was_read_is_not_overwritten(bootstrapped, aws):
    from module_utils.cutover.state_store import StateConflict, StateStore

    ours = StateStore(aws("s3"), STATE_BUCKET, ACCOUNT, "ap-northeast-2", retry=False)
    key = ours.key("comparison", "evidence", "2026-11-26T04-00Z.json")
    assert ours.get(key) == (None, None)
    etag = ours.put(key, '{"by": "cron-host"}', None)
    text, read_etag = ours.get(key)
    assert (text, read_etag) == ('{"by": "cron-host"}', etag)
    ours.put(key, '{"by": "laptop"}', read_etag)  # the other controller writes after our read
    with pytest.raises(StateConflict, match=f"s3://{STATE_BUCKET}/{key} was changed by another controller"):
        ours.put(key, '{"by": "cron-host, late"}', read_etag)
    snapshot = ours.key("comparison", "snapshots", "sms.json")
    ours.put(snapshot, "{}", None)  # another controller created it after we saw none
    with pytest.raises(StateConflict, match="did not exist"):
        ours.put(snapshot, '{"late": 1}', None)
    assert ours.get(key)[0] == '{"by": "laptop"}'
