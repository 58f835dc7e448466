#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: metric_math_alarm
short_description: A CloudWatch alarm on a metric-math ratio of a Lambda function's metrics, idempotent
description:
  - Ensures one CloudWatch alarm whose value is an arithmetic expression over the function's C(AWS/Lambda)
    metrics, each summed per O(period) (for example C(100 * errors / invocations); an id names the metric,
    C(errors) is C(Errors)).
  - Replaces C(amazon.aws.cloudwatch_metric_alarm) for metric-math alarms only; that module leaves C(Metrics)
    out of its comparison and so rewrites such an alarm on every run (C(changed) each time).
  - Compares the alarm as described with the one it would write - a rerun makes no write call. Check mode
    and diff.
author:
  - naver-sms cutover team (@naver-sms-ops)
options:
  name:
    description: Alarm name.
    required: true
    type: str
  description:
    description: Alarm description.
    type: str
    default: ""
  expression:
    description: Metric math over ids of C(AWS/Lambda) metrics (C(+ - * /), numbers, ids).
    required: true
    type: str
  function:
    description: C(FunctionName) dimension of every metric of the expression.
    required: true
    type: str
  period:
    description: Seconds per datapoint (10, 30 or a multiple of 60).
    required: true
    type: int
  comparison:
    description: How the value is compared with O(threshold).
    required: true
    type: str
    choices: [GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold, LessThanOrEqualToThreshold]
  threshold:
    description: Threshold.
    required: true
    type: float
  evaluation_periods:
    description: How many periods are looked at.
    type: int
    default: 1
  datapoints_to_alarm:
    description: How many of them must breach (default O(evaluation_periods)).
    type: int
  treat_missing_data:
    description: What a period without datapoint counts as.
    type: str
    default: missing
    choices: [breaching, notBreaching, ignore, missing]
  alarm_actions:
    description: ARNs notified when the alarm goes to C(ALARM) (exactly these).
    type: list
    elements: str
    default: []
  ok_actions:
    description: ARNs notified when the alarm goes back to C(OK).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Alarm when more than 5 % of the new function's runs fail
  cutover.local.metric_math_alarm:
    name: naver-sms-cutover-v2-error-rate
    expression: 100 * errors / invocations
    function: naverplace_send_inform_v2
    period: 60
    comparison: GreaterThanThreshold
    threshold: 5
    evaluation_periods: 5
    datapoints_to_alarm: 1
    treat_missing_data: notBreaching
    alarm_actions: ["arn:aws:sns:ap-northeast-2:654654307503:naver-sms-cutover-slack"]
"""

RETURN = r"""
alarm:
  description: The alarm as written (or as it would be in check mode), PutMetricAlarm keys.
  returned: always
  type: dict
alarm_arn:
  description: ARN of the alarm (null in check mode before it exists).
  returned: always
  type: str
changes:
  description: The keys that differ between the alarm found and the one wanted (all of them when it is new).
  returned: always
  type: list
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.aws import InputError, finish, retry_decorator
from ansible.module_utils.cutover.monitoring import alarm_as_written, math_alarm


def wanted(params):
    datapoints = params["datapoints_to_alarm"] or params["evaluation_periods"]
    try:
        return math_alarm(params["name"], params["description"], params["expression"], params["function"],
                          params["period"], params["comparison"], params["threshold"], params["evaluation_periods"],
                          datapoints, params["treat_missing_data"], params["alarm_actions"], params["ok_actions"])
    except (ValueError, SyntaxError) as exc:
        raise InputError(f"alarm {params['name']}: {exc}") from None


def ensure_alarm(module, client):
    want = wanted(module.params)
    found = client.describe_alarms(AlarmNames=[want["AlarmName"]], AlarmTypes=["MetricAlarm"],
                                   aws_retry=True).get("MetricAlarms", [])
    have = alarm_as_written(found[0] if found else None)
    changes = sorted(k for k in want if have.get(k) != want[k]) if have else sorted(want)
    if changes and not module.check_mode:
        client.put_metric_alarm(aws_retry=True, **want)
        found = client.describe_alarms(AlarmNames=[want["AlarmName"]], AlarmTypes=["MetricAlarm"],
                                       aws_retry=True).get("MetricAlarms", [])
    result = {"changed": bool(changes), "changes": changes, "alarm": want,
              "alarm_arn": found[0]["AlarmArn"] if found else None}
    if module._diff:
        result["diff"] = {"before": have, "after": want}
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        description=dict(type="str", default=""),
        expression=dict(type="str", required=True),
        function=dict(type="str", required=True),
        period=dict(type="int", required=True),
        comparison=dict(type="str", required=True, choices=["GreaterThanThreshold", "GreaterThanOrEqualToThreshold",
                                                            "LessThanThreshold", "LessThanOrEqualToThreshold"]),
        threshold=dict(type="float", required=True),
        evaluation_periods=dict(type="int", default=1),
        datapoints_to_alarm=dict(type="int"),
        treat_missing_data=dict(type="str", default="missing",
                                choices=["breaching", "notBreaching", "ignore", "missing"]),
        alarm_actions=dict(type="list", elements="str", default=[]),
        ok_actions=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    finish(module, lambda: ensure_alarm(module, module.client("cloudwatch", retry_decorator=retry_decorator())),
           f"CloudWatch call failed for alarm {module.params['name']}")


if __name__ == "__main__":
    main()
