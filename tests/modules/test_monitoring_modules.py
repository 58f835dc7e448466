"""cloudwatch_dashboard, metric_math_alarm and sns_channel against the emulator: four steps, bad input."""
from __future__ import annotations

import json

import pytest

from tests.module_runner import run_module
from tests.modules.ecr_helpers import operations
from tests.unit.test_monitoring import NAMES

ALARM = {"name": "naver-sms-cutover-v2-error-rate", "expression": "100 * errors / invocations",
         "function": "naverplace_send_inform_v2", "period": 60, "comparison": "GreaterThanThreshold", "threshold": 5,
         "evaluation_periods": 5, "datapoints_to_alarm": 1, "treat_missing_data": "notBreaching",
         "alarm_actions": ["arn:aws:sns:ap-northeast-2:123456789012:naver-sms-cutover-slack"]}


def _four_steps(proxy, module, args, mutating):
    """check -> changed, no write; apply -> changed; check and apply again -> unchanged, no write."""
    first = run_module(module, args, proxy.url, check=True, diff=True)
    assert first["changed"] and not first.get("failed"), first
    assert operations(proxy, mutating_only=True) == []
    applied = run_module(module, args, proxy.url)
    assert applied["changed"] and not applied.get("failed"), applied
    assert operations(proxy, mutating_only=True) == mutating
    for check_mode in (True, False):
        proxy.clear()
        again = run_module(module, args, proxy.url, check=check_mode)
        assert not again["changed"] and not again.get("failed"), again
        assert operations(proxy, mutating_only=True) == []
    return first, applied


def test_dashboard_four_steps_and_a_change_shows_in_the_diff(proxy, aws):
    args = {"name": "naver-sms-cutover", "cutover_names": NAMES}
    first, _ = _four_steps(proxy, "cloudwatch_dashboard", args, ["PutDashboard"])
    assert first["diff"]["before"] == {} and len(first["diff"]["after"]["widgets"]) == 12
    stored = json.loads(aws("cloudwatch").get_dashboard(DashboardName="naver-sms-cutover")["DashboardBody"])
    assert [w["properties"]["title"] for w in stored["widgets"]][-1] == "Alarm states"
    moved = run_module("cloudwatch_dashboard", {"name": "naver-sms-cutover",
                                                "cutover_names": dict(NAMES, new_table="sms_v3")},
                       proxy.url, check=True, diff=True)
    assert moved["changed"] and "sms_v3" in json.dumps(moved["diff"]["after"])
    assert "sms_v3" not in json.dumps(moved["diff"]["before"])


def test_math_alarm_four_steps(proxy, aws):
    _four_steps(proxy, "metric_math_alarm", ALARM, ["PutMetricAlarm"])
    alarm = aws("cloudwatch").describe_alarms(AlarmNames=[ALARM["name"]])["MetricAlarms"][0]
    assert [m["Id"] for m in alarm["Metrics"]] == ["ratio", "errors", "invocations"]
    moved = run_module("metric_math_alarm", dict(ALARM, threshold=1), proxy.url)
    assert moved["changes"] == ["Threshold"]


def test_sns_channel_four_steps_and_extra_subscriptions_removed(proxy, aws):
    args = {"name": "naver-sms-cutover-email", "subscriptions": [{"protocol": "email", "endpoint": "ops@example.com"}]}
    _four_steps(proxy, "sns_channel", args, ["CreateTopic", "Subscribe"])
    sns = aws("sns")
    arn = sns.list_topics()["Topics"][0]["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="stray@example.com")
    fixed = run_module("sns_channel", args, proxy.url)
    assert fixed["changed"] and fixed["unsubscribed"] == ["email"]
    assert [s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]] == ["ops@example.com"]


@pytest.mark.parametrize("module, args, message", [
    ("sns_channel", {"name": "t", "subscriptions": [{"protocol": "email", "endpoint": "ops@@example.com"}]},
     "subscriptions[0] is not an e-mail address"),
    ("metric_math_alarm", dict(ALARM, period=90), "period 90 s"),
    ("metric_math_alarm", dict(ALARM, expression="errors ** 2"), "unsupported metric math"),
    ("cloudwatch_dashboard", {"name": "bad name", "body": {"widgets": []}}, "may hold only letters"),
    ("cloudwatch_dashboard", {"name": "d", "cutover_names": {"region": "x"}}, "cutover_names lacks old_function"),
], ids=["email", "period", "math", "dashboard-name", "dashboard-names"])
def test_bad_input_fails_clearly_without_any_call(proxy, module, args, message):
    result = run_module(module, args, proxy.url)
    assert result.get("failed") and message in result["msg"], result
    assert proxy.calls() == []
