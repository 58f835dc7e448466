"""Proof on the rehearsal world: Decision Point 2 from the comparison and Lambda metrics.

A short window (9 slots, ``window_days`` 0.125) instead of a week: the rules are the same,
a full week is in bench/. The comparison runs after each slot as in production
(rehearsal.comparison), the gate (library/cutover_gate.py, in-process) at the last comparison's time.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from rehearsal.comparison import compare_slot, grace
from tests.conftest import LEDGER_TABLE
from tests.module_runner import run_module
from tests.rehearsal.conftest import CFG, DAY

SLOT = timedelta(minutes=20)
WINDOW_DAYS = 0.125  # 9 slots
SLOTS = 11  # the first comparison takes the baseline; 9 settled slots after it
ACK = {"by": "Kim Minsu", "ref": "CHG0012345"}
ACKS = {"rollback_practised": ACK, "team_comfortable": ACK, "po_approval": ACK}
ALARMS = ["naver-sms-comparison-discrepancies", "naver-sms-v2-duration"]


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parallel_run(world, tmp_path, fault=None):
    """SLOTS slots of old live + new shadow, compared after each; as_of."""
    world.new_rule("shadow")
    start = DAY + timedelta(hours=1)
    for index in range(SLOTS):
        world.scheduler.run(1, start=start if index == 0 else None, fault=fault)
        compare_slot(start + index * SLOT + grace(), tmp_path / "reports", world.cfg)
    return start + (SLOTS - 1) * SLOT + grace()


def alarms(aws, states=None):
    """The monitoring alarms (monitoring.yml's job), and the new function's 300 s timeout (create_function.yml's)."""
    aws("lambda").update_function_configuration(FunctionName=CFG.new_function, Timeout=300)
    for name in ALARMS:
        aws("cloudwatch").put_metric_alarm(
            AlarmName=name, Namespace="naver-sms/comparison", MetricName="discrepancies", Statistic="Maximum",
            Period=1200, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
        if states and name in states:
            aws("cloudwatch").set_alarm_state(AlarmName=name, StateValue=states[name], StateReason="test")


def dp2(endpoint, as_of, **overrides):
    args = {"decision": "cutover", "function": CFG.new_function, "as_of": iso(as_of), "window_days": WINDOW_DAYS,
            "alarms": ALARMS, "acknowledgements": ACKS}
    args.update(overrides)
    return run_module("cutover_gate", args, endpoint)


def by_name(result):
    return {c["name"]: c for c in result["criteria"]}


@pytest.mark.slow
def test_a_clean_parallel_run_is_go_and_gate_yml_prints_and_records_it(world, bootstrapped, aws, proxy, tmp_path):
    """One clean parallel run carries: DP2 go with every execution counted (cutover_gate in-process, one batched
    GetMetricData, no write); the same evidence no_go with an alarm firing; a namespace without data inconclusive;
    gate.yml on the test inventory (every criterion printed, the decision recorded in the ledger, a no_go recorded
    and then the play failed, bad input refused); then three slots compare.yml did not compare: no_go, inconclusive."""
    from tests.ansible_runner import run_playbook

    as_of = parallel_run(world, tmp_path)
    alarms(aws)
    proxy.clear()
    result = dp2(proxy.url, as_of)
    assert result["outcome"] == "go", result["reasons"]
    criteria = by_name(result)
    assert criteria["executions compared"]["measured"] == "9 of 9 slots (0 not compared)"
    assert criteria["executions compared"]["required"] == ">= 9"
    assert criteria["max duration"]["status"] == "pass" and criteria["max duration"]["required"] == "< 240000 ms"
    assert result["evidence"]["executions_compared"] == 9
    assert result["expires_in_hours"] == 24 and result["expires_at"] > result["decided_at"]
    # one batched GetMetricData for every series; the gate writes nothing
    assert result["evidence"]["aws_calls"] == {"GetMetricData": 1}
    assert [c["operation"] for c in proxy.calls() if c["operation"] == "GetMetricData"] == ["GetMetricData"]
    assert proxy.mutating_calls() == []
    # the same evidence with an alarm firing now is no_go
    alarms(aws, {ALARMS[1]: "ALARM"})
    firing = dp2(proxy.url, as_of)
    assert firing["outcome"] == "no_go" and by_name(firing)["no alarm in ALARM now"]["status"] == "fail"
    alarms(aws, {ALARMS[1]: "OK"})

    # a namespace without data is inconclusive with a clear reason
    typo = dp2(world.cfg.url, as_of, namespace="naver-sms/typo")
    assert typo["outcome"] == "no_go"
    executions = by_name(typo)["executions compared"]
    assert executions["status"] == "inconclusive"
    assert "no datapoint of naver-sms/typo executions_compared" in executions["reason"]
    assert "is compare.yml running" in executions["reason"]

    # gate.yml prints each criterion and records the go; after a no_go it records it, then fails
    extra = {"decision": "cutover", "cutover_gate_window_days": WINDOW_DAYS, "cutover_gate_as_of": iso(as_of),
             "cutover_monitoring_alarms": ALARMS, "cutover_gate_acks": ACKS}
    go = run_playbook("gate.yml", extra_vars=extra)
    assert go.rc == 0, go.messages()
    printed = [r["msg"] for r in go.task_results("Print every criterion")[0]["results"]]
    assert "PASS: executions compared - measured 9 of 9 slots (0 not compared), required >= 9" in printed
    assert any(line.startswith("PASS: max duration - measured max ") for line in printed)
    assert go.changed == 1  # the decision recorded, nothing else
    recorded = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "read"}, world.cfg.url)
    assert recorded["decisions"]["cutover"]["outcome"] == "go" and not recorded["decisions"]["cutover"]["expired"]
    assert recorded["lock"] is None and recorded["events"][0]["playbook"] == "gate.yml"

    missing_ack = run_playbook("gate.yml", extra_vars=dict(extra, cutover_gate_acks={"po_approval": ACK}))
    assert missing_ack.rc != 0
    assert "Decision point cutover is NO_GO (2 failed, 0 inconclusive)" in missing_ack.messages()
    assert "missing acknowledgement rollback_practised" in missing_ack.messages()
    assert missing_ack.task_results("Stop when the decision is no_go")[0].get("failed")
    recorded = run_module("cutover_ledger", {"table": LEDGER_TABLE, "action": "read"}, world.cfg.url)
    assert recorded["decisions"]["cutover"]["outcome"] == "no_go"  # recorded before the play failed
    assert (recorded["events"][0]["result"], recorded["lock"]) == ("failed", None)

    # an unknown decision is refused by gate.yml in tests/test_bad_inputs.py (PLAYBOOK_CASES, with no write)
    refused = run_playbook("gate.yml", extra_vars=dict(extra, cutover_gate_window_days=0))
    assert refused.rc != 0 and "window_days must be more than 0" in refused.messages(), refused.messages()

    # three more slots run, compare.yml ran for none of them: no_go, inconclusive
    world.scheduler.run(3)
    later = dp2(world.cfg.url, as_of + 3 * SLOT)
    assert later["outcome"] == "no_go"
    executions = by_name(later)["executions compared"]
    assert executions["status"] == "inconclusive", executions
    assert "3 slot(s) have no comparison" in executions["reason"]


@pytest.mark.parametrize("fault, failed, text", [
    ("slow", "max duration", "NFR: under 240 s"),
    ("crash", "new function errors", "failed run(s)"),
])
def test_a_faulty_new_function_is_no_go_naming_the_criterion(world, aws, tmp_path, fault, failed, text):
    as_of = parallel_run(world, tmp_path, fault=fault)
    alarms(aws)
    result = dp2(world.cfg.url, as_of)
    assert result["outcome"] == "no_go"
    criterion = by_name(result)[failed]
    assert criterion["status"] == "fail" and text in criterion["reason"], criterion
    assert any(r.startswith(f"{failed}: fail") for r in result["reasons"])


@pytest.mark.parametrize("overrides, message", [
    ({"window_days": 0}, "window_days must be more than 0"),
    ({"acknowledgements": {"po_aproval": ACK}}, "unknown acknowledgement(s) po_aproval"),
    ({"as_of": "yesterday"}, "as_of 'yesterday' is not an ISO date-time"),
])
def test_bad_input_fails_before_any_aws_call(proxy, overrides, message):
    proxy.clear()
    result = run_module("cutover_gate", dict({"decision": "cutover", "function": CFG.new_function}, **overrides),
                        proxy.url)
    assert result.get("failed") and message in result["msg"], result
    assert proxy.calls() == []
