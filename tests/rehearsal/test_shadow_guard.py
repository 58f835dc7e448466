"""Issue 15 on the rehearsal world: a shadow leak is stopped by the comparison run of its slot, before the
next slot fires; a clean span stops nothing; the old rule re-enabled by hand after the cutover pages within
one slot. (compare.yml itself runs in the leak test; the other two call its modules in-process.)"""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from module_utils.cutover.gate import parse_time
from rehearsal import invariants
from rehearsal.comparison import compare_slot, grace
from rehearsal.recorders import Recorders
from tests.conftest import LEDGER_TABLE, STATE_BUCKET, migration_writes
from tests.module_runner import run_module
from tests.notify_fixture import notify  # noqa: F401 (fixture)
from tests.rehearsal.conftest import CFG, DAY

SLOT = timedelta(minutes=20)
MORNING = DAY + timedelta(hours=1)  # 10:00 KST: bookings arrive, guides are due
LEAK_ALARM = "naver-sms-cutover-shadow-leak"
DOUBLE_ALARM = "naver-sms-cutover-old-rule-enabled-while-new-live"


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def alias_live(aws):
    lam = aws("lambda")
    version = lam.publish_version(FunctionName=CFG.new_function)["Version"]
    lam.create_alias(FunctionName=CFG.new_function, Name="live", FunctionVersion=version)
    found = lam.get_function(FunctionName=CFG.new_function, Qualifier=version)["Configuration"]
    return f"sha256:{found['CodeSha256']}"


def alarm(aws, name, metric, stat, period, periods):
    """The inventory's alarm (inventories/common/group_vars/all/monitoring.yml), without its topics."""
    aws("cloudwatch").put_metric_alarm(
        AlarmName=name, Namespace="naver-sms/comparison", MetricName=metric, Statistic=stat, Period=period,
        EvaluationPeriods=periods, DatapointsToAlarm=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching")


def guard(url, **extra):
    args = {"new_rule": CFG.new_rule, "old_rule": CFG.old_rule, "function": CFG.new_function}
    return run_module("shadow_guard", dict(args, **extra), url)


def rule_of(events, name):
    (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
    return events.describe_rule(Name=name)["State"], json.loads(target.get("Input") or "{}").get("mode")


@pytest.mark.slow
def test_a_leak_from_the_third_slot_is_stopped_before_the_next_slot(notify, world, bootstrapped, aws, proxy,
                                                                    tmp_path):
    world.new_rule("shadow")
    digest = alias_live(aws)
    alarm(aws, LEAK_ALARM, "shadow_leaks", "Maximum", 1200, 6)
    # the baseline start_parallel.yml takes (in-process: tests/rehearsal/conftest.py bucket_baseline, without its
    # RETURN check, which output_compare's `late`/`settle_slots`/`evidence_truncated` fail on main for now)
    assert compare_slot(MORNING, tmp_path / "baseline", world.cfg, bucket=STATE_BUCKET, baseline=True)["baseline"]
    env = {"CUTOVER_EMULATOR_URL": proxy.url, "CUTOVER_REPORTS_DIR": str(tmp_path)}
    from tests.ansible_runner import run_playbook

    world.scheduler.run(2, start=MORNING)  # slots 1 and 2: the image honours shadow
    third = MORNING + 2 * SLOT
    world.scheduler.run(1, fault="shadow_leak")  # slot 3: this build ignores {"mode": "shadow"}
    sens = Recorders(world.cfg.directory).sens
    leaked = [r for r in sens.all() if r["function"] == CFG.new_function]
    assert leaked and {r["slot"] for r in leaked} == {iso(third)}

    # compare.yml of slot 3 runs at its usual time, slot start + grace (5 minutes)
    wall = time.monotonic()
    stop = run_playbook("compare.yml", extra_vars={"cutover_compare_as_of": iso(third + grace())}, env=env)
    wall = time.monotonic() - wall
    assert stop.rc == 0, stop.messages()
    events = aws("events")
    assert rule_of(events, CFG.new_rule) == ("DISABLED", "shadow")  # stopped, its input kept
    assert events.describe_rule(Name=CFG.old_rule)["State"] == "ENABLED"  # the old side never touched
    margin = SLOT - grace() - timedelta(seconds=wall)
    print(f"\nleak in slot {iso(third)}: stopped by the compare run at slot + {grace().seconds} s + {wall:.1f} s "
          f"(wall); the next slot fires {margin.total_seconds():.0f} s later")
    assert margin > timedelta(minutes=5)

    # evidence: the ledger event, the leak record in the bucket, the page
    ledger = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "read", "limit": 5}, bootstrapped)
    (event,) = [e for e in ledger["events"] if e.get("kind") == "shadow_leak_stop"]
    assert event["facts"]["digest"] == digest and event["facts"]["rule_disabled"] in (True, "True")
    assert [(leak["slot"], leak["sms"]) for leak in event["facts"]["leaks"]] == [(iso(third), len(leaked))]
    record = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "get_state", "bucket": STATE_BUCKET,
                                           "account_id": "123456789012", "state_key": ["shadow", "leak.json"]},
                        bootstrapped)["content"]
    assert [(i["digest"], i["slots"], i["sms"]) for i in record["incidents"]] == [(digest, [iso(third)], len(leaked))]
    pages = [m for m in notify() if "SHADOW LEAK" in json.dumps(m, ensure_ascii=False)]
    assert {m["channel"] for m in pages} >= {"slack", "telegram"}, notify()

    # a rerun of the same comparison finds nothing fresh: no second stop, event, page or datapoint
    observed = compare_slot(third + grace(), tmp_path / "again", world.cfg, check=True, bucket=STATE_BUCKET,
                            slot=iso(third))
    proxy.clear()
    again = guard(proxy.url, comparisons=[observed], leak_record=record, at=iso(third + grace()))
    assert again["leak_found"] and again["fresh_leaks"] == [] and again["leak_record"] == record, again
    assert not again["changed"] and proxy.mutating_calls() == []

    # slots 4 and 5: the new rule does not fire; customers got the leaked SMS of one slot only
    summary = world.scheduler.run(2, fault="shadow_leak")
    assert summary["runs"] == {CFG.old_function: 2}
    assert [t["alarm"] for t in summary["alarm_transitions"] if t["to"] == "ALARM"] == [LEAK_ALARM]
    leaked_now = [r for r in sens.all() if r["function"] == CFG.new_function]
    print(f"customers received {len(leaked_now)} leaked SMS, all from slot {iso(third)} (SENS recorder)")
    assert leaked_now == leaked
    report = invariants.check_world(world.cfg)
    named = {(v["booking_num"], v["sms_type"]) for v in report.violations if v["kind"] == "shadow"}
    assert named == {(r["booking_num"], r["sms_type"]) for r in leaked}
    assert {v["kind"] for v in report.violations} <= {"shadow", "twice"}
    assert {(v["booking_num"], v["sms_type"]) for v in report.violations if v["kind"] == "twice"} <= named

    # DP2 reads no_go with the leak as the reason (the leak record and the published shadow_leaks)
    gate = run_module("cutover_gate", {
        "decision": "cutover", "function": CFG.new_function, "as_of": iso(third + 3 * SLOT + grace()),
        "window_days": 0.125, "leak_record": record, "acknowledgements": {}}, bootstrapped)
    assert gate["outcome"] == "no_go", gate
    criteria = {c["name"]: c for c in gate["criteria"]}
    assert criteria["no shadow leak of the image on the alias"]["status"] == "fail"
    assert "the image that leaked" in criteria["no shadow leak of the image on the alias"]["reason"]
    assert any(r.startswith("no shadow leak of the image on the alias: fail") for r in gate["reasons"])


def test_a_clean_parallel_span_finds_no_leak_and_stops_nothing(world, tmp_path):
    world.new_rule("shadow")
    results = []
    for index in range(4):
        world.scheduler.run(1, start=MORNING if index == 0 else None)
        at = MORNING + index * SLOT + grace()
        settled = compare_slot(at, tmp_path / "reports", world.cfg)
        observed = compare_slot(at, tmp_path / "reports", world.cfg, check=True, slot=iso(at - grace()))
        results += [settled, observed]
        found = guard(world.cfg.url, comparisons=[settled, observed])
        assert not found.get("failed") and found["leaks"] == [] and not found["double_send"], found
        assert found["published"] == [] and not found["changed"]
    assert sum(r["slots"][s]["sms_sent"]["new"]["total"] for r in results for s in r["slots"]) > 0
    assert rule_of(world.scheduler.client("events"), CFG.new_rule) == ("ENABLED", "shadow")


def test_the_old_rule_enabled_by_hand_after_the_cutover_pages_within_one_slot(world, bootstrapped, aws):
    world.new_rule("shadow")
    alarm(aws, DOUBLE_ALARM, "old_rule_enabled_while_new_live", "Maximum", 60, 25)
    world.scheduler.run(1, start=MORNING)
    # "after cutover": the switch on the rehearsal clock plus the ledger event cutover.yml records
    arn = aws("lambda").get_function(FunctionName=CFG.new_function)["Configuration"]["FunctionArn"]
    switched = run_module("schedule_switch", {
        "live": "new", "old_rule": CFG.old_rule, "new_rule": CFG.new_rule, "new_target_arn": arn,
        "clock": str(world.scheduler.clock_path), "poll_interval": 0.05, "max_wait": 0}, world.cfg.url)
    assert switched["changed"] and not switched.get("failed"), switched
    run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "event", "event": {
        "playbook": "cutover.yml", "result": "ok", "facts": {"live": "new"}}}, bootstrapped)
    world.scheduler.run(1)
    assert guard(world.cfg.url, at=iso(MORNING + SLOT + grace()))["double_send"] is False

    aws("events").enable_rule(Name=CFG.old_rule)  # someone re-enables the old rule by hand, mid-slot
    world.scheduler.run(1)  # slot 3: both send
    slot = MORNING + 2 * SLOT
    looked = slot + grace()
    found = guard(world.cfg.url, at=iso(looked))  # what compare.yml's guard does 5 minutes after the slot
    assert found["double_send"] and found["published"] == [f"old_rule_enabled_while_new_live@{iso(looked)}"]
    assert found["restore_command"] == f"aws events disable-rule --name {CFG.old_rule} --region ap-northeast-2"
    assert guard(world.cfg.url, at=iso(looked))["published"] == []  # once per look
    summary = world.scheduler.run(1)  # slot 4: the alarm is evaluated at its period boundary
    paged = [t for t in summary["alarm_transitions"] if t["alarm"] == DOUBLE_ALARM and t["to"] == "ALARM"]
    assert paged, summary["alarm_transitions"]
    print(f"\nold rule re-enabled before slot {iso(slot)}, seen at {iso(looked)}; {DOUBLE_ALARM} in ALARM at "
          f"{paged[0]['at']} (rehearsal clock)")
    assert parse_time(paged[0]["at"]) <= looked + SLOT

    aws("events").disable_rule(Name=CFG.old_rule)  # the restore command, as boto3
    assert guard(world.cfg.url, at=iso(slot + SLOT + grace()))["double_send"] is False
