#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: shadow_guard
short_description: Find shadow leaks in a comparison run and a double send after the cutover
author:
  - naver-sms cutover team (@naver-sms-ops)
description:
  - Reads the new and the old EventBridge rule (state, schedule, target, input mode) and judges, with the pure
    rules of C(module_utils/cutover/shadow.py) -
  - A shadow leak - the comparison results O(comparisons) (what C(output_compare) returned in this run) show an SMS
    or Telegram message the new function delivered while its target input says mode C(shadow). Returns the
    leaks per slot, those not yet in O(leak_record) (C(fresh_leaks)), the leak record merged with them, and the
    image digest on the alias O(alias) of O(function) (the image that leaked).
  - A double send - the old rule C(ENABLED) while the new rule is C(ENABLED) with a live input (someone re-enabled
    the old rule by hand after the cutover). Returns the command that restores the intended state.
  - Publishes in O(namespace) metric C(shadow_leaks) stamped with the leaked slot (SMS and Telegram messages leaked;
    at once - the comparison publishes its own C(shadow_leaks) for a slot only once the slot settled; read it with
    Maximum) and metric C(old_rule_enabled_while_new_live) (1) stamped with the minute of O(at) (an observation, not a slot
    figure - its alarm looks at 1-minute periods and pages at its next evaluation). Each once - a datapoint already
    there is not sent again.
    Nothing is published for a clean run. It never changes a rule; C(playbooks/compare.yml) acts on the result.
options:
  new_rule:
    description: EventBridge rule of the new function.
    type: str
    required: true
  old_rule:
    description: EventBridge rule of the old function (production's; only read).
    type: str
    required: true
  function:
    description: The new function (its alias's image digest is recorded with a leak).
    type: str
    required: true
  alias:
    description: Alias the new rule invokes.
    type: str
    default: live
  comparisons:
    description: Results of C(output_compare) from this run (its C(shadow_leaks) and C(observed_shadow_leaks) - the
      settled slot and the slot that just ran).
    type: list
    elements: dict
    default: []
  leak_record:
    description: The leak record read from the state bucket (C(shadow/leak.json)); C({}) or omitted when there is none.
    type: dict
  namespace:
    description: Namespace of the comparison metrics.
    type: str
    default: naver-sms/comparison
  slot_minutes:
    description: Length of an execution slot (the period of the published metrics).
    type: int
    default: 20
  at:
    description: The moment of this check (ISO); default now. C(compare.yml) passes C(cutover_compare_as_of) (the rehearsal's clock).
    type: str
  publish:
    description: Publish the two metrics (false - only judge).
    type: bool
    default: true
notes:
  - Also retries C(ConcurrentModificationException) (this module's own codes).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Look for shadow leaks and a double send in what this comparison run found
  cutover.local.shadow_guard:
    new_rule: naver-sms-automation-v2-trigger
    old_rule: naverplace_send_inform_trigger
    function: naverplace_send_inform_v2
    comparisons: ["{{ compare__result }}"]
    leak_record: "{{ compare__leak_record.content | default({}, true) }}"
  register: guard
"""

RETURN = r"""
leaks:
  description: Leaked deliveries per slot - slot, sms, telegram, bookings (booking_num, sms_type, masked phone; empty
    until the comparison reports them).
  returned: always
  type: list
  elements: dict
fresh_leaks:
  description: The leaks whose slot the leak record did not hold yet for this image (what a stop reports).
  returned: always
  type: list
  elements: dict
leak_found:
  description: Whether this run found a leak.
  returned: always
  type: bool
leak_record:
  description: The leak record with this run's leaks merged (one incident per image digest), to store as C(shadow/leak.json).
  returned: always
  type: dict
digest:
  description: Image digest of the alias's version (read only when a leak was found), else null.
  returned: always
  type: str
new_rule:
  description: The new rule as read - name, exists, state, schedule, modes, target_arns.
  returned: always
  type: dict
old_rule:
  description: The old rule as read - name, exists, state, schedule, modes, target_arns.
  returned: always
  type: dict
double_send:
  description: The old rule is ENABLED while the new rule is ENABLED with a live input.
  returned: always
  type: bool
restore_command:
  description: The command that restores the intended state after a double send (disables the old rule only).
  returned: always
  type: str
at:
  description: The moment of this check (UTC, to the minute) that C(old_rule_enabled_while_new_live) is stamped with.
  returned: always
  type: str
published:
  description: Metrics published by this run (or that would be, in check mode), as C(name@timestamp).
  returned: always
  type: list
  elements: str
"""

import json
from datetime import datetime, timedelta, timezone

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover import shadow
from ansible.module_utils.cutover.arn import function_digest
from ansible.module_utils.cutover.aws import InputError, finish, get_or_none, retry_decorator


def moment_of(text, minutes=1):
    """The ISO time ``text`` floored to ``minutes`` (UTC)."""
    try:
        moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{text!r} is not an ISO date-time such as 2026-11-26T04:00:00Z") from None
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return moment.replace(minute=moment.minute - moment.minute % minutes, second=0, microsecond=0)


def read_rule(events, name):
    rule = get_or_none(events.describe_rule, Name=name)
    if rule is None:
        return {"name": name, "exists": False, "modes": [], "target_arns": []}
    modes, arns, kwargs = [], [], {"Rule": name}
    while True:
        page = events.list_targets_by_rule(aws_retry=True, **kwargs)
        for target in page.get("Targets", []):
            arns.append(target.get("Arn"))
            try:
                value = json.loads(target.get("Input") or "null")
            except ValueError:
                value = None
            modes.append(value.get("mode") if isinstance(value, dict) else None)
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return {"name": name, "exists": True, "state": rule.get("State"), "schedule": rule.get("ScheduleExpression"),
            "modes": modes, "target_arns": arns}


def alias_digest(lam, function, alias):
    found = get_or_none(lam.get_alias, FunctionName=function, Name=alias)
    if found is None:
        return None
    version = get_or_none(lam.get_function, FunctionName=function, Qualifier=found.get("FunctionVersion"))
    if version is None:
        return None
    return function_digest(version.get("Code"), version.get("Configuration"))


def already_published(cloudwatch, namespace, metric, stamp, minutes):
    found = cloudwatch.get_metric_statistics(Namespace=namespace, MetricName=metric, StartTime=stamp,
                                             EndTime=stamp + timedelta(minutes=minutes), Period=minutes * 60,
                                             Statistics=["Maximum"], aws_retry=True)
    return bool(found.get("Datapoints"))


def guard(module, events, lam, cloudwatch):
    params = module.params
    minutes = params["slot_minutes"]
    if minutes <= 0:
        raise InputError("slot_minutes must be positive (20 for the seed's schedule)")
    at = moment_of(params["at"] or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    new_rule, old_rule = read_rule(events, params["new_rule"]), read_rule(events, params["old_rule"])
    new_mode = shadow.SHADOW if shadow.SHADOW in new_rule["modes"] else (new_rule["modes"] or [None])[0]
    leaks = shadow.leaks_of(params["comparisons"], new_mode)
    digest = alias_digest(lam, params["function"], params["alias"]) if leaks else None
    previous = params["leak_record"] or {}
    fresh = shadow.fresh_leaks(previous, leaks, digest)
    record = shadow.merge_record(previous, leaks, digest, at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    double = shadow.double_send(old_rule, new_rule)
    metrics = []
    for leak in leaks:  # at once: the comparison publishes a slot only once it settled (about 45 minutes later)
        metrics.append((shadow.LEAK_METRIC, moment_of(leak["slot"], minutes), minutes, leak["sms"] + leak["telegram"]))
    if double:
        metrics.append((shadow.DOUBLE_SEND_METRIC, at, 1, 1))
    published = []
    if params["publish"]:
        for name, stamp, period, value in metrics:
            if already_published(cloudwatch, params["namespace"], name, stamp, period):
                continue
            published.append(f"{name}@{stamp.strftime('%Y-%m-%dT%H:%M:%SZ')}")
            if not module.check_mode:
                cloudwatch.put_metric_data(Namespace=params["namespace"], aws_retry=True, MetricData=[{
                    "MetricName": name, "Timestamp": stamp, "Value": float(value), "Unit": "Count"}])
    return {"changed": bool(published), "leaks": leaks, "fresh_leaks": fresh, "leak_found": bool(leaks),
            "leak_record": record, "digest": digest, "new_rule": new_rule, "old_rule": old_rule,
            "double_send": double, "restore_command": shadow.restore_command(params["old_rule"], module.region),
            "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "published": published}


def main():
    argument_spec = dict(
        new_rule=dict(type="str", required=True),
        old_rule=dict(type="str", required=True),
        function=dict(type="str", required=True),
        alias=dict(type="str", default="live"),
        comparisons=dict(type="list", elements="dict", default=[]),
        leak_record=dict(type="dict"),
        namespace=dict(type="str", default="naver-sms/comparison"),
        slot_minutes=dict(type="int", default=20),
        at=dict(type="str"),
        publish=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    retry = retry_decorator(["ConcurrentModificationException"])
    events, lam, cloudwatch = (module.client(name, retry_decorator=retry) for name in ("events", "lambda", "cloudwatch"))
    finish(module, lambda: guard(module, events, lam, cloudwatch), "reading the rules or publishing the guard metrics failed")


if __name__ == "__main__":
    main()
