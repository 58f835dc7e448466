#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: execution_check
short_description: Verify the first scheduled execution of a function after a switch
description:
  - >-
    Waits for the first fire time of O(schedule) strictly after O(after) (the switch) and checks that slot's
    run of O(function) - C(AWS/Lambda) C(Invocations) at least 1 and C(Errors) 0, the run finished (its
    C(START RequestId) line has its C(END RequestId)), and every SMS its log shows for the slot was delivered
    (a run that logs SMS with C(delivered) false is still in shadow mode). A slot in which no booking needed
    an SMS passes with 0 SMS.
  - >-
    Polls every O(poll_interval) real seconds until the verdict is in, up to O(timeout) real seconds; fails
    with what it saw when the run failed or nothing came in time. Reads only - it never writes.
  - >-
    Time is injectable - with O(clock) the present is read from a JSON file (the rehearsal's C(clock.json),
    whose C(now) is the scheduler's next unrun step), so the slot is there once whoever drives the rehearsal
    has run it. While it waits it writes C(wanted.json) beside that file (C({"until": <end of the slot>}))
    so that C(python -m rehearsal follow) runs the slot. Without O(clock) the system clock is used and the
    module sleeps until the slot.
  - In check mode it reports the slot it would check and returns at once.
author:
  - naver-sms cutover team (@naver-sms-ops)
options:
  function:
    description: Name of the Lambda function that became live.
    type: str
    required: true
  schedule:
    description: The rule's schedule expression (C(cron(0/20 * * * ? *))).
    type: str
    required: true
  after:
    description:
      - ISO 8601 UTC time of the switch; the first slot strictly after it is checked.
      - Default - the present (system clock, or O(clock)).
    type: str
  log_group:
    description: CloudWatch Logs group of the function (default C(/aws/lambda/<function>)).
    type: str
  log_format:
    description: How the function's SMS lines are read - C(json) or C(legacy_text) (see C(output_compare)).
    type: str
    default: json
    choices: [json, legacy_text]
  slot_minutes:
    description: Length of a slot in minutes.
    type: int
    default: 20
  timeout:
    description: Real seconds to wait for the verdict (0 to 7200; 0 = look once).
    type: int
    default: 2400
  poll_interval:
    description: Real seconds between two looks (0.05 to 120).
    type: float
    default: 30.0
  clock:
    description: Path of the rehearsal's clock file (test inventory); unset on production.
    type: path
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Verify the new function's first live execution
  cutover.local.execution_check:
    function: naverplace_send_inform_v2
    schedule: cron(0/20 * * * ? *)
    after: "{{ switch.quiet.at }}"
    timeout: 2400
"""

RETURN = r"""
slot:
  description: The slot checked (ISO 8601 UTC).
  returned: always
  type: str
status:
  description: C(ok), C(failed), C(pending) (timed out) or C(planned) (check mode).
  returned: always
  type: str
invocations:
  description: Sum of C(AWS/Lambda) C(Invocations) in the slot.
  returned: always
  type: int
errors:
  description: Sum of C(AWS/Lambda) C(Errors) in the slot.
  returned: always
  type: int
runs_started:
  description: C(START RequestId) lines in the slot.
  returned: always
  type: int
runs_finished:
  description: Runs whose C(END RequestId) line is there too.
  returned: always
  type: int
sms_logged:
  description: SMS the run logged for the slot (bookings that needed one).
  returned: always
  type: int
sms_delivered:
  description: Of those, SMS logged as delivered.
  returned: always
  type: int
telegram_delivered:
  description: Telegram summaries logged as delivered.
  returned: always
  type: int
reasons:
  description: The verdict in words.
  returned: always
  type: list
  elements: str
waited_seconds:
  description: Real seconds spent waiting.
  returned: always
  type: float
"""

import json
import os
import time
from datetime import datetime, timedelta, timezone

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.aws import InputError, finish, retry_decorator
from ansible.module_utils.cutover.compare_formats import JSON_FORMAT, LEGACY_TEXT_FORMAT, parse_log_event
from ansible.module_utils.cutover.schedule import slot as slot_iso
from ansible.module_utils.cutover.schedule import ScheduleError, parse
from ansible.module_utils.cutover.verify import (
    FAILED, OK, PENDING, VerifyInputError, describe, first_slot, judge, present_on, validate, window,
)

UTC = timezone.utc
RETRY = retry_decorator()
LOG_FORMATS = {"json": JSON_FORMAT, "legacy_text": LEGACY_TEXT_FORMAT}


def read_clock(path):
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the clock file {path}: {exc}") from None


def ask_for(clock_path, until):
    """Rehearsal only: tell the follower (python -m rehearsal follow) which clock this run waits for."""
    wanted = os.path.join(os.path.dirname(clock_path), "wanted.json")
    try:
        with open(wanted + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"until": until.strftime("%Y-%m-%dT%H:%M:%SZ")}, handle)
        os.replace(wanted + ".tmp", wanted)
    except OSError as exc:
        raise InputError(f"cannot write {wanted} beside the clock file: {exc}") from None


def metric_sum(cloudwatch, function, name, start, end):
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=name, Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=start, EndTime=end, Period=60, Statistics=["Sum"], aws_retry=True).get("Datapoints", [])
    return sum(p.get("Sum", 0) for p in points)


def log_events(logs, group, start, end):
    try:
        events = paginated_query_with_retries(
            logs, "filter_log_events", retry_decorator=RETRY, logGroupName=group,
            startTime=int(start.timestamp() * 1000), endTime=int(end.timestamp() * 1000)).get("events", [])
    except is_boto3_error_code("ResourceNotFoundException"):
        return []
    return [(e.get("timestamp", 0), e.get("message", "")) for e in events]


def look(params, cloudwatch, logs, slot):
    start, end = window(slot, params["slot_minutes"])
    messages = log_events(logs, params["log_group"] or f"/aws/lambda/{params['function']}", start, end)
    observations = [o for o in (parse_log_event(m, ts, LOG_FORMATS[params["log_format"]], params["slot_minutes"])
                                for ts, m in messages) if o]
    return judge(slot_iso(slot, params["slot_minutes"]),
                 metric_sum(cloudwatch, params["function"], "Invocations", start, end),
                 metric_sum(cloudwatch, params["function"], "Errors", start, end), messages, observations)


def run(module, cloudwatch, logs):
    params = module.params
    try:
        validate(params["timeout"], params["poll_interval"])
        schedule = parse(params["schedule"])
        present = present_on(read_clock(params["clock"]), datetime.now(UTC))
        after = present if not params["after"] else \
            datetime.fromisoformat(params["after"].replace("Z", "+00:00")).astimezone(UTC)
        slot = first_slot(schedule, after)
    except (VerifyInputError, ScheduleError, ValueError) as exc:
        raise InputError(str(exc)) from None
    base = {"changed": False, "slot": slot_iso(slot, params["slot_minutes"]), "invocations": 0, "errors": 0,
            "runs_started": 0, "runs_finished": 0, "sms_logged": 0, "sms_delivered": 0, "telegram_delivered": 0,
            "waited_seconds": 0.0}
    if module.check_mode:
        return dict(base, status="planned", reasons=[f"would check the run of {params['function']} in {base['slot']}"])
    started = time.monotonic()
    result = dict(base, status=PENDING, reasons=["the slot has not come yet"])
    while True:
        present = present_on(read_clock(params["clock"]), datetime.now(UTC))
        if present >= slot:
            result = dict(base, **look(params, cloudwatch, logs, slot))
        elif params["clock"]:
            ask_for(params["clock"], slot + timedelta(minutes=params["slot_minutes"]))
        waited = time.monotonic() - started
        result["waited_seconds"] = round(waited, 3)
        if result["status"] in (OK, FAILED) or waited >= params["timeout"]:
            return result
        pause = params["poll_interval"]
        if not params["clock"] and present < slot:  # production: sleep until the slot (and a little)
            pause = max(pause, min((slot - present + timedelta(seconds=30)).total_seconds(),
                                   params["timeout"] - waited))
        time.sleep(max(0.0, min(pause, params["timeout"] - waited)))


def main():
    argument_spec = dict(
        function=dict(type="str", required=True),
        schedule=dict(type="str", required=True),
        after=dict(type="str"),
        log_group=dict(type="str"),
        log_format=dict(type="str", default="json", choices=["json", "legacy_text"]),
        slot_minutes=dict(type="int", default=20),
        timeout=dict(type="int", default=2400),
        poll_interval=dict(type="float", default=30.0),
        clock=dict(type="path"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    cloudwatch = module.client("cloudwatch", retry_decorator=RETRY)
    logs = module.client("logs", retry_decorator=RETRY)

    def verified():
        result = run(module, cloudwatch, logs)
        if result["status"] not in (OK, "planned"):
            what = "failed" if result["status"] == FAILED else \
                f"did not complete within timeout={module.params['timeout']} s"
            module.fail_json(msg=f"the first execution after the switch {what}: "
                             f"{describe(result, module.params['function'])}", **result)
        return result

    finish(module, verified, f"reading the execution of {module.params['function']}")


if __name__ == "__main__":
    main()
