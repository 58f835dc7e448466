"""Issue 13, the soak's findings: a burst of faults on one call, longer than botocore's own retries, failed
sns_channel's CreateTopic in monitoring.yml and cutover_ledger's state read (S3 GetObject) in create_function.yml
(dropped connections), and the state bucket's HeadBucket in start_parallel.yml (a drop, then 500 twice: a HEAD
answer has no body, so its code is "500", which AWSRetry did not know). retry_decorator now retries a dropped
connection once botocore gave up, and the bare HTTP status codes of HEAD answers."""
from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tests.conftest import LEDGER_TABLE, STATE_BUCKET, aws_client
from tests.module_runner import run_module

BURST = 7  # more than botocore's own attempts (3 in standard mode, 5 in legacy mode)
STATE = {"table": LEDGER_TABLE, "action": "get_state", "bucket": STATE_BUCKET, "account_id": "123456789012",
         "state_key": ["function", "naverplace_send_inform_v2"]}

CASES = {
    "sns_channel-drop": ("sns_channel", {"name": "naver-sms-cutover-email", "subscriptions": [
        {"protocol": "email", "endpoint": "ops@example.com"}]}, "^CreateTopic$", "drop"),
    "state-read-drop": ("cutover_ledger", STATE, f"^GET /{STATE_BUCKET}/", "drop"),
    "state-bucket-head-500": ("cutover_ledger", STATE, f"^HEAD /{STATE_BUCKET}$", "500"),
}


@pytest.fixture
def backoff(monkeypatch):
    """Every backoff delay (botocore's, AWSRetry's, retry_decorator's connection retries), recorded instead of
    slept: the emulator needs no pause, and the sleeping was most of these tests' time."""
    slept = []
    fake = SimpleNamespace(sleep=slept.append)
    for name in ("botocore.endpoint", "ansible_collections.amazon.aws.plugins.module_utils.cloud",
                 "ansible.module_utils.cutover.aws"):  # the name the modules import it by (tests/module_runner.py)
        monkeypatch.setattr(importlib.import_module(name), "time", fake)
    return slept


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_burst_of_faults_on_one_call_is_ridden_out(bootstrapped, proxy, backoff, case):
    module, args, operation, kind = CASES[case]
    proxy.script(operation, kind, BURST)
    result = run_module(module, args, proxy.url)
    assert not result.get("failed"), result.get("msg")
    faulted = [c for c in proxy.calls() if c["fault"] == kind]
    assert len(faulted) == BURST, faulted
    answered = [c for c in proxy.calls() if c["fault"] is None and c["at"] >= faulted[-1]["at"]]
    assert answered, "the call was never answered after the burst"
    # a backoff after each fault (a layer may add one of its own: one run of 8 for 7 faults was seen), none long
    assert len(backoff) >= BURST and all(0 <= delay <= 20 for delay in backoff), backoff


def test_decision_point_3_asks_once_whether_alarm_history_is_offered_through_throttling(bootstrapped, proxy, backoff):
    """Soak seed 24: DP3's DescribeAlarmHistory, which the emulator does not offer (a 500 web page), went through
    botocore's 11 attempts (the inventories' aws_config), about 25 s each time, and when the last attempt met a
    throttle the not-offered answer was hidden and gate.yml failed. Now the history is read through a client
    without botocore's retries, under the module's own retry layer (history_page): the throttles are tried again,
    the emulator's answer is read once, and the alarms are replayed from their series."""
    alarm = "naver-sms-cutover-v2-duration"
    aws_client("cloudwatch", bootstrapped).put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Duration", Statistic="Maximum", Period=1200,
        EvaluationPeriods=1, Threshold=240000, ComparisonOperator="GreaterThanThreshold")
    cutover_at = (datetime.now(timezone.utc) - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    acks = {name: {"by": "Kim Minsu", "ref": "CHG0012345"} for name in ("zero_customer_complaints", "po_approval")}
    proxy.script("^DescribeAlarmHistory$", "throttle", 3)
    result = run_module("cutover_gate", {
        "decision": "decommission", "function": "naverplace_send_inform_v2", "alarms": [alarm],
        "acknowledgements": acks, "aws_config": {"retries": {"mode": "standard", "max_attempts": 10}},
        "history": [{"playbook": "cutover.yml", "result": "ok", "facts": {"live": "new", "switched_at": cutover_at}}]},
        proxy.url)
    assert not result.get("failed"), result.get("msg")
    assert result["evidence"]["alarms_since"]["source"] == "recomputed from the metric series"
    asked = [c["fault"] for c in proxy.calls() if c["operation"] == "DescribeAlarmHistory"]
    assert asked == ["throttle", "throttle", "throttle", None], asked  # the emulator's answer read once, not 11 times
    assert len(backoff) == 3 and all(delay <= 20 for delay in backoff), backoff
