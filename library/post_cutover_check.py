#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: post_cutover_check
short_description: The daily checks of the week after the cutover (Story 5.7), measured in AWS
author:
  - naver-sms cutover team (@naver-sms-ops)
description:
  - Reads where production stands from the ledger's run events O(events) (the last successful C(cutover.yml)
    or C(rollback.yml) run with facts C(live) and C(switched_at)) and refuses before any cutover and while
    the old function is live.
  - Checks one post-cutover day (O(day), default the newest complete one) with the pure rules of
    C(module_utils/cutover/post_cutover.py) - error rate of the new function below O(max_error_rate), its
    longest run below O(max_duration_ms), no alarm of O(alarms) in C(ALARM), every slot of the day executed
    exactly once (C(AWS/Lambda) Invocations per slot), and the SMS it delivered (O(delivered_metric) of
    O(function_namespace)) at least O(sms_min_ratio) of what the parallel week delivered
    (O(baseline_metric) of O(namespace)) in the same stretch of time.
  - One GetMetricData call for every series, one DescribeAlarms. Read-only - it changes nothing, also not in
    check mode, where it runs the same.
options:
  events:
    description: Run events of the ledger (C(cutover_ledger action=read), key C(events)).
    type: list
    elements: dict
    required: true
  function:
    description: The new function (live after the cutover).
    type: str
    required: true
  as_of:
    description: The moment of the check (ISO); default now. The rehearsal passes its simulated clock.
    type: str
  day:
    description: Which post-cutover day to check (1 = the 24 h after the switch); default the newest complete day.
    type: int
  days:
    description: Days of post-cutover checks; the last one decides whether Decision Point 3 is due.
    type: int
    default: 7
  day_minutes:
    description: Length of a post-cutover day (a whole number of slots; shortened only in a rehearsal).
    type: int
    default: 1440
  slot_minutes:
    description: Length of an execution slot.
    type: int
    default: 20
  grace_s:
    description: Seconds after a slot start by which its runs have finished.
    type: int
    default: 300
  max_error_rate:
    description: Error rate of the new function allowed per day, a fraction.
    type: float
    default: 0.01
  max_duration_ms:
    description: Longest run allowed (the NFR).
    type: int
    default: 240000
  sms_min_ratio:
    description: Share of the parallel week's SMS a day must deliver to be in line (0 < ratio <= 1).
    type: float
    default: 0.5
  sms_min_expected:
    description: Below this many expected SMS a drop is not judged (too few).
    type: int
    default: 20
  parallel_days:
    description: Days before the cutover whose SMS make the baseline (the parallel week).
    type: float
    default: 7
  alarms:
    description: Alarms that must not be in C(ALARM).
    type: list
    elements: str
    default: []
  namespace:
    description: Namespace of the comparison metrics (the baseline).
    type: str
    default: naver-sms/comparison
  baseline_metric:
    description: Comparison metric of the SMS the old function delivered per slot during the parallel week.
    type: str
    default: sms_sent_old
  function_namespace:
    description: Namespace of the function's own metrics.
    type: str
    default: naver-sms/automation
  delivered_metric:
    description: Metric of the function (dimension C(FunctionName)) counting SMS sent through SENS.
    type: str
    default: sens_api_calls
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Read the ledger's run events
  cutover.local.cutover_ledger:
    table: naver-sms-cutover-ledger
    action: read
    limit: 500
  register: ledger

- name: Check the newest complete day after the cutover
  cutover.local.post_cutover_check:
    events: "{{ ledger.events }}"
    function: naverplace_send_inform_v2
    alarms: [naver-sms-cutover-v2-error-rate, naver-sms-cutover-v2-duration]
  register: day
"""

RETURN = r"""
changed:
  description: Always false (read-only).
  returned: always
  type: bool
cutover_at:
  description: When the current cutover switched (from the ledger).
  returned: always
  type: str
rollbacks:
  description: Rollbacks recorded before the current cutover, their switch times.
  returned: always
  type: list
  elements: str
window:
  description: The day checked - C(day), C(start), C(end), C(complete), C(slots), C(last_day) (the last day of the
    week is complete - Decision Point 3 is due), C(complete_days), C(slots_per_day).
  returned: always
  type: dict
day:
  description: The post-cutover day checked.
  returned: always
  type: int
ok:
  description: True when every check passed.
  returned: always
  type: bool
criteria:
  description: Every check as C(name), C(measured), C(required), C(status) (pass, fail, inconclusive), C(reason).
  returned: always
  type: list
  elements: dict
findings:
  description: Names of the checks that did not pass.
  returned: always
  type: list
  elements: str
line:
  description: The day in one line (printed and recorded in the ledger).
  returned: always
  type: str
delivered:
  description: SMS the new function delivered in the checked slots.
  returned: always
  type: int
expected:
  description: SMS expected from the parallel week for the same stretch (null without baseline data).
  returned: always
  type: float
statuses:
  description: How many checks passed, failed, were inconclusive.
  returned: always
  type: dict
aws_calls:
  description: Read calls made, by operation.
  returned: always
  type: dict
"""

from datetime import datetime, timedelta, timezone

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover import post_cutover as pc
from ansible.module_utils.cutover.aws import InputError, finish, get_metric_data, metric_query, retry_decorator
from ansible.module_utils.cutover.gate import GateInputError, iso, parse_time, slot_floor

LAMBDA = {"invocations": ("Invocations", "Sum"), "errors": ("Errors", "Sum"), "duration_max_ms": ("Duration", "Maximum")}


def per_slot(points, combine=lambda a, b: a + b):
    out = {}
    for stamp, value in points:
        key = iso(stamp)
        out[key] = combine(out[key], value) if key in out else value
    return out


def read_alarm_states(cloudwatch, names, counter):
    states = dict.fromkeys(names)
    for index in range(0, len(names), 100):
        kwargs = {"AlarmNames": names[index:index + 100], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
        while True:
            page = cloudwatch.describe_alarms(aws_retry=True, **kwargs)
            counter["DescribeAlarms"] = counter.get("DescribeAlarms", 0) + 1
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                states[alarm["AlarmName"]] = alarm.get("StateValue")
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return states


def check(params, settings, now, cloudwatch):
    state = pc.live_state(params["events"])
    window = pc.day_window(state["cutover_at"], now, settings, params["day"])
    period = settings["slot_minutes"] * 60
    step = timedelta(seconds=period)
    cutover = parse_time(state["cutover_at"])
    fn = [{"Name": "FunctionName", "Value": params["function"]}]
    queries = [metric_query(key, "AWS/Lambda", name, stat, period, fn) for key, (name, stat) in LAMBDA.items()]
    queries.append(metric_query("delivered", params["function_namespace"], params["delivered_metric"], "Sum", period, fn))
    queries.append(metric_query("baseline", params["namespace"], params["baseline_metric"], "Sum", period))
    counter = {}
    # whole slots (CloudWatch stamps each period from the start it is given)
    start = slot_floor(parse_time(window["start"]), settings["slot_minutes"])
    end = slot_floor(parse_time(window["end"]), settings["slot_minutes"]) + step
    series = get_metric_data(cloudwatch, queries[:-1], start, end, counter)
    base_start = slot_floor(cutover - timedelta(days=params["parallel_days"]), settings["slot_minutes"])
    baseline = get_metric_data(cloudwatch, queries[-1:], base_start, slot_floor(cutover, settings["slot_minutes"]),
                               counter)["baseline"]
    measured = {"window": window, "alarms": read_alarm_states(cloudwatch, params["alarms"], counter)
                if params["alarms"] else {},
                "sms_delivered": per_slot(series["delivered"]), "baseline": per_slot(baseline)}
    for key in LAMBDA:
        measured[key] = per_slot(series[key], max if key == "duration_max_ms" else (lambda a, b: a + b))
    result = pc.check_day(measured, settings)
    return dict(result, changed=False, cutover_at=state["cutover_at"], rollbacks=state["rollbacks"], window=window,
                aws_calls=counter)


def main():
    argument_spec = dict(
        events=dict(type="list", elements="dict", required=True),
        function=dict(type="str", required=True),
        as_of=dict(type="str"),
        day=dict(type="int"),
        days=dict(type="int", default=7),
        day_minutes=dict(type="int", default=1440),
        slot_minutes=dict(type="int", default=20),
        grace_s=dict(type="int", default=300),
        max_error_rate=dict(type="float", default=0.01),
        max_duration_ms=dict(type="int", default=240000),
        sms_min_ratio=dict(type="float", default=0.5),
        sms_min_expected=dict(type="int", default=20),
        parallel_days=dict(type="float", default=7),
        alarms=dict(type="list", elements="str", default=[]),
        namespace=dict(type="str", default="naver-sms/comparison"),
        baseline_metric=dict(type="str", default="sms_sent_old"),
        function_namespace=dict(type="str", default="naver-sms/automation"),
        delivered_metric=dict(type="str", default="sens_api_calls"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    try:  # every input is validated, and the ledger read, before the first AWS call
        settings = pc.settings_of({k: params[k] for k in pc.DEFAULTS})
        now = parse_time(params["as_of"], "as_of") if params["as_of"] else datetime.now(timezone.utc)
        state = pc.live_state(params["events"])
        pc.day_window(state["cutover_at"], now, settings, params["day"])
    except (pc.PostCutoverError, GateInputError) as exc:
        module.fail_json(msg=str(exc))
    cloudwatch = module.client("cloudwatch", retry_decorator=retry_decorator())

    def run():
        try:
            return check(params, settings, now, cloudwatch)
        except (pc.PostCutoverError, GateInputError) as exc:
            raise InputError(str(exc)) from None

    finish(module, run, "reading the post-cutover metrics failed")


if __name__ == "__main__":
    main()
