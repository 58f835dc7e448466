"""The pure monitoring core: e-mail check, metric math, alarm evaluation (as CloudWatch), dashboard body."""
from __future__ import annotations

import pytest

from module_utils.cutover.monitoring import (
    alarm_as_written, dashboard_body, evaluate, evaluate_expression, evaluation_times, invalid_emails, math_alarm)


@pytest.mark.parametrize("address, ok", [
    ("ops@example.com", True),
    ("first.last+cutover@mail.example.co.kr", True),
    ("ops@@example.com", False),
    ("ops@example", False),
    ("ops example@example.com", False),
    ("", False),
    ("@example.com", False),
    ("ops@-example.com", False),
])
def test_email_addresses(address, ok):
    assert (invalid_emails([address]) == []) is ok


@pytest.mark.parametrize("expression, values, expected", [
    ("100 * errors / invocations", {"errors": 1, "invocations": 4}, 25.0),
    ("100 * errors / invocations", {"errors": 0, "invocations": 0}, None),  # no run: no datapoint
    ("100 * errors / invocations", {"errors": None, "invocations": 3}, None),
    ("a + b - 2", {"a": 1, "b": 5}, 4.0),
    ("-a", {"a": 2}, -2.0),
])
def test_metric_math(expression, values, expected):
    assert evaluate_expression(expression, values) == expected


def test_metric_math_refuses_anything_but_arithmetic():
    with pytest.raises(ValueError):
        math_alarm("n", "", "__import__('os')", "f", 60, "GreaterThanThreshold", 5, 5, 1, "notBreaching", [])


SIMPLE = {"AlarmName": "d", "Namespace": "ns", "MetricName": "m", "Statistic": "Maximum", "Period": 60,
          "EvaluationPeriods": 5, "DatapointsToAlarm": 1, "Threshold": 240000.0,
          "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}
HEARTBEAT = dict(SIMPLE, Period=1200, EvaluationPeriods=3, DatapointsToAlarm=3, Threshold=1.0,
                 ComparisonOperator="LessThanThreshold", TreatMissingData="breaching")
RATE = math_alarm("r", "", "100 * errors / invocations", "f", 60, "GreaterThanThreshold", 5, 5, 1, "notBreaching", [])
T0 = 1_800_000_000 - 1_800_000_000 % 3600


@pytest.mark.parametrize("alarm, series, at, state", [
    (SIMPLE, {"m": {T0: 250000.0}}, T0 + 60, "ALARM"),            # breaching minute seen one minute later
    (SIMPLE, {"m": {T0: 250000.0}}, T0 + 300, "ALARM"),           # still in the 5-minute window
    (SIMPLE, {"m": {T0: 250000.0}}, T0 + 360, "OK"),              # out of it, missing = not breaching
    (SIMPLE, {"m": {T0: 3000.0}}, T0 + 60, "OK"),
    (SIMPLE, {}, T0 + 60, "OK"),                                   # notBreaching: no data is fine
    (SIMPLE, {"m": {T0: 250000.0}}, T0 + 59, "OK"),               # the minute is not over yet
    (HEARTBEAT, {}, T0 + 3600, "ALARM"),                           # missing = breaching
    (HEARTBEAT, {"m": {T0 + 1200: 1.0}}, T0 + 3600, "OK"),        # one compared slot in the hour
    (RATE, {"errors": {T0: 1.0}, "invocations": {T0: 1.0}}, T0 + 60, "ALARM"),
    (RATE, {"errors": {T0: 0.0}, "invocations": {T0: 1.0}}, T0 + 60, "OK"),
])
def test_alarm_evaluation_as_cloudwatch(alarm, series, at, state):
    assert evaluate(alarm, series, at)[0] == state


def test_missing_data_ignored_keeps_the_state():
    alarm = dict(SIMPLE, TreatMissingData="ignore")
    assert evaluate(alarm, {}, T0 + 60, "ALARM")[0] == "ALARM"


def test_evaluation_times_are_every_period_boundary_of_the_step():
    times = evaluation_times([SIMPLE, HEARTBEAT], T0, T0 + 1200)
    assert times[0] == T0 + 60 and times[-1] == T0 + 1200 and len(times) == 20


def test_a_described_math_alarm_compares_equal_to_what_was_written():
    described = dict(RATE, AlarmArn="arn", StateValue="OK", Metrics=[dict(m) for m in RATE["Metrics"]])
    described["Metrics"][0]["Period"] = None  # extra keys AWS adds are ignored
    described["Metrics"][0].pop("Period")
    assert alarm_as_written(described) == RATE
    assert alarm_as_written(dict(described, Threshold=1.0)) != RATE


@pytest.mark.parametrize("bad, message", [
    ({"period": 90}, "period 90 s"),
    ({"datapoints_to_alarm": 6}, "datapoints_to_alarm 6"),
    ({"comparison": "Above"}, "comparison 'Above'"),
])
def test_math_alarm_bad_input(bad, message):
    args = dict(name="n", description="", expression="100 * errors / invocations", function="f", period=60,
                comparison="GreaterThanThreshold", threshold=5, evaluation_periods=5, datapoints_to_alarm=1,
                treat_missing_data="notBreaching", alarm_actions=[])
    args.update(bad)
    with pytest.raises(ValueError, match=message):
        math_alarm(**args)


NAMES = {"old_function": "old", "new_function": "new", "old_table": "sms", "new_table": "sms_v2",
         "namespace": "naver-sms/comparison", "function_namespace": "naver-sms/automation", "region": "ap-northeast-2",
         "alarms": ["arn:b", "arn:a"], "stores": [], "sms_types": ["confirm", "guide", "event"]}


def test_dashboard_has_every_panel_the_story_asks_for_and_is_deterministic():
    body = dashboard_body(NAMES)
    assert body == dashboard_body(dict(NAMES))
    panels = {w["properties"]["title"]: w["properties"] for w in body["widgets"]}
    assert set(panels) == {
        "SMS sent: old vs new", "SMS sent by type", "SMS sent by store", "Records created / updated",
        "Telegram summaries sent", "Discrepancies and executions compared", "Match percentage",
        "Invocations and errors", "Duration (ms)", "DynamoDB consumed capacity", "SENS API calls", "Alarm states"}
    assert panels["Alarm states"]["alarms"] == ["arn:a", "arn:b"]
    assert ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", "sms_v2"] in panels["DynamoDB consumed capacity"]["metrics"]
    assert ["naver-sms/automation", "sens_api_calls", "FunctionName", "new"] in panels["SENS API calls"]["metrics"]
    assert "SEARCH(" in panels["SMS sent by store"]["metrics"][0][0]["expression"]
    by_store = dashboard_body(dict(NAMES, stores=["1051707"]))["widgets"][2]["properties"]["metrics"]
    assert by_store == [["naver-sms/automation", "sms_sent", "FunctionName", f, "store_id", "1051707"] for f in ("old", "new")]
