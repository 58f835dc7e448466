#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: schedule_rule
short_description: One EventBridge schedule rule with exactly one target and its mode input
description:
  - 'Ensures an EventBridge rule with O(schedule), O(state) and O(description), and exactly one target
    (O(target_arn)) whose constant input is C({"mode": "shadow"}) or C({"mode": "live"}). Other targets of
    the rule are removed.'
  - When the target is a Lambda function (or alias), also ensures the resource policy statement that
    lets this rule invoke it (O(lambda_permission)).
  - Compares before writing - a rerun makes no write call. Check mode and diff.
  - The schedule expression is validated here (EventBridge emulators accept anything) with
    C(module_utils/cutover/schedule.py); the name must be 64 characters at most.
options:
  name:
    description: Rule name (at most 64 characters of letters, digits, C(.), C(-), C(_)).
    required: true
    type: str
  schedule:
    description: C(cron(...)) or C(rate(...)) expression.
    required: true
    type: str
  state:
    description: Rule state.
    type: str
    default: DISABLED
    choices: [ENABLED, DISABLED]
  mode:
    description:
      - 'Input passed to the target, C({"mode": "<mode>"}).'
      - Omitted - the target's input is kept as it is (a new target gets no input). The legacy rule's target is
        production's and keeps whatever input it has.
    type: str
    choices: [shadow, live]
  target_arn:
    description: ARN of the one target (for the new function, its alias ARN).
    required: true
    type: str
  target_id:
    description: Id of the target in the rule.
    type: str
    default: function
  description:
    description: Rule description; omitted - kept as it is (empty for a new rule).
    type: str
  must_exist:
    description:
      - The rule must already exist and target O(target_arn) (any target id); it is never created, its other
        targets are left alone. Otherwise the module fails naming what it found, before any change. For a rule
        that belongs to production (the legacy rule).
    type: bool
    default: false
  lambda_permission:
    description: Ensure the Lambda permission that lets this rule invoke O(target_arn) (Lambda targets only).
    type: bool
    default: true
notes:
  - Also retries C(ConcurrentModificationException) and C(ResourceConflictException) (this module's own codes).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
author:
  - naver-sms cutover team (@naver-sms-ops)
"""

EXAMPLES = r"""
- name: Create the new rule disabled, in shadow mode
  cutover.local.schedule_rule:
    name: naver-sms-automation-v2-trigger
    schedule: cron(0/20 * * * ? *)
    state: DISABLED
    mode: shadow
    target_arn: "{{ function.alias_arn }}"
"""

RETURN = r"""
rule_arn:
  description: ARN of the rule (null in check mode before it exists).
  returned: always
  type: str
changes:
  description: What changed (or would) - rule, target, extra_targets_removed, permission.
  returned: always
  type: list
  elements: str
name:
  description: Rule name.
  returned: always
  type: str
state:
  description: Rule state afterwards (O(state)).
  returned: always
  type: str
schedule:
  description: Schedule expression afterwards.
  returned: always
  type: str
mode:
  description: Mode in the target's constant input afterwards.
  returned: always
  type: str
target_arn:
  description: ARN of the rule's one target.
  returned: always
  type: str
"""

import json
import re

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.arn import placement_problem
from ansible.module_utils.cutover.aws import InputError, finish, get_or_none, retry_decorator
from ansible.module_utils.cutover.schedule import ScheduleError, parse

NAME_RE = re.compile(r"^[.\-_A-Za-z0-9]+$")
MAX_NAME = 64
RETRY = retry_decorator(["ResourceConflictException", "ConcurrentModificationException"])


def validate(params, region=None):
    name = params["name"]
    if len(name) > MAX_NAME:
        raise InputError(f"rule name {name} is {len(name)} characters; EventBridge allows at most {MAX_NAME}: "
                         "choose a shorter name")
    if not NAME_RE.match(name):
        raise InputError(f"rule name {name} may hold only letters, digits, '.', '-' and '_'")
    try:
        parse(params["schedule"])
    except ScheduleError as exc:
        raise InputError(str(exc)) from None
    problem = placement_problem("target_arn", params["target_arn"], "rule", region=region,
                                fix="an EventBridge rule invokes only targets of its own region; fix the ARN")
    if problem:
        raise InputError(problem)


def wanted_input(mode):
    return {"mode": mode}


def describe_rule(client, name):
    return get_or_none(client.describe_rule, Name=name)


def rule_targets(client, name):
    return paginated_query_with_retries(client, "list_targets_by_rule", retry_decorator=RETRY, Rule=name)["Targets"]


def _input_of(target):
    try:
        return json.loads(target.get("Input") or "null")
    except ValueError:
        return target.get("Input")


def statement_id(rule_name):
    return f"{rule_name}-invoke"[:100]


def permission_present(lam, target_arn, sid, rule_arn):
    function, _unqualified, qualifier = _split_function(target_arn)
    found = get_or_none(lam.get_policy, FunctionName=function, **({"Qualifier": qualifier} if qualifier else {}))
    if found is None:
        return False
    policy = json.loads(found["Policy"])
    for statement in policy.get("Statement", []):
        if statement.get("Sid") != sid:
            continue
        source = (statement.get("Condition") or {}).get("ArnLike", {}).get("AWS:SourceArn")
        return rule_arn is None or source == rule_arn
    return False


def _split_function(arn):
    """(function name, unqualified ARN, qualifier) of a Lambda function or alias ARN."""
    parts = arn.split(":")
    qualifier = parts[7] if len(parts) > 7 else None
    return parts[6], ":".join(parts[:7]), qualifier


def verify_existing(client, name, rule, targets, target_arn):
    """The id of the target of an existing rule that invokes target_arn; else InputError naming what was found."""
    if rule is None:
        try:
            found = client.list_rule_names_by_target(TargetArn=target_arn, aws_retry=True).get("RuleNames", [])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            found = []
        hint = f"rules that target {target_arn}: {', '.join(found)}" if found else f"no rule targets {target_arn}"
        raise InputError(f"rule {name} does not exist ({hint}); it belongs to production and is never created "
                         "here (a second rule would run the function twice): fix the rule name in the inventory. "
                         "Nothing was changed")
    matching = [t["Id"] for t in targets if t["Arn"] == target_arn]
    if not matching:
        raise InputError(f"rule {name} targets {', '.join(t['Arn'] for t in targets) or 'nothing'}, not {target_arn}: "
                         "check the rule and function names in the inventory. Nothing was changed")
    return matching[0]


def check_target_function(module, lam, target_arn):
    """The target function exists and is in the ARN's account (read only, before any write)."""
    function = _split_function(target_arn)[0]
    found = get_or_none(lam.get_function, FunctionName=function)
    if found is None:
        if module.check_mode:
            module.warn(f"target function {function} does not exist (yet): a real run fails unless it is created first")
            return
        raise InputError(f"target function {function} does not exist: create it first (playbooks/create_function.yml) "
                         "or fix target_arn. Nothing was changed")
    have = found["Configuration"]["FunctionArn"].split(":")[4]
    problem = placement_problem("target_arn", target_arn, "rule", account=have,
                                fix=f"give the ARN of the function in account {have}. Nothing was changed")
    if problem:
        raise InputError(problem)


def ensure_rule(module, client, lam):
    params, check_mode = module.params, module.check_mode
    validate(params, module.region)
    name = params["name"]
    rule = describe_rule(client, name)
    targets = rule_targets(client, name) if rule else []
    target_id = params["target_id"]
    if params["must_exist"]:
        target_id = verify_existing(client, name, rule, targets, params["target_arn"])
    description = params["description"]
    if description is None:
        description = (rule or {}).get("Description", "")
    want_rule = {"ScheduleExpression": params["schedule"], "State": params["state"], "Description": description}
    have_rule = {k: (rule or {}).get(k, "" if k == "Description" else None) for k in want_rule}
    ours = [t for t in targets if t["Id"] == target_id]
    have_target = {"Id": ours[0]["Id"], "Arn": ours[0]["Arn"], "Input": _input_of(ours[0])} if ours else None
    keep_input = (have_target or {}).get("Input") if params["mode"] is None else wanted_input(params["mode"])
    want_target = {"Id": target_id, "Arn": params["target_arn"], "Input": keep_input}
    extra = [] if params["must_exist"] else [t["Id"] for t in targets if t["Id"] != target_id]

    changes = []
    if have_rule != want_rule:
        changes.append("rule")
    if have_target != want_target:
        changes.append("target")
    if extra:
        changes.append("extra_targets_removed")
    is_lambda = params["lambda_permission"] and params["target_arn"].startswith("arn:aws") and \
        ":lambda:" in params["target_arn"] and ":function:" in params["target_arn"]
    if is_lambda:
        check_target_function(module, lam, params["target_arn"])
    sid = statement_id(name)
    if is_lambda and not (rule and permission_present(lam, params["target_arn"], sid, rule.get("Arn"))):
        changes.append("permission")

    rule_arn = (rule or {}).get("Arn")
    if not check_mode:
        if "rule" in changes:
            rule_arn = client.put_rule(Name=name, aws_retry=True, **want_rule)["RuleArn"]
        if extra:
            client.remove_targets(Rule=name, Ids=extra, aws_retry=True)
        if "target" in changes:
            target = {"Id": target_id, "Arn": params["target_arn"]}
            if want_target["Input"] is not None:
                target["Input"] = json.dumps(want_target["Input"])
            client.put_targets(Rule=name, aws_retry=True, Targets=[target])
        if "permission" in changes:
            function, _unqualified, qualifier = _split_function(params["target_arn"])
            kwargs = {"Qualifier": qualifier} if qualifier else {}
            get_or_none(lam.remove_permission, FunctionName=function, StatementId=sid, **kwargs)  # gone is fine
            lam.add_permission(FunctionName=function, StatementId=sid, Action="lambda:InvokeFunction",
                               Principal="events.amazonaws.com", SourceArn=rule_arn, aws_retry=True, **kwargs)

    result = {"changed": bool(changes), "changes": changes, "rule_arn": rule_arn, "name": name,
              "state": params["state"], "schedule": params["schedule"], "mode": params["mode"],
              "target_arn": params["target_arn"]}
    if module._diff:
        result["diff"] = {
            "before": dict(have_rule, target=have_target, other_targets=extra) if rule else {},
            "after": dict(want_rule, target=want_target, other_targets=[]),
        }
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        schedule=dict(type="str", required=True),
        state=dict(type="str", default="DISABLED", choices=["ENABLED", "DISABLED"]),
        mode=dict(type="str", choices=["shadow", "live"]),
        target_arn=dict(type="str", required=True),
        target_id=dict(type="str", default="function"),
        description=dict(type="str"),
        must_exist=dict(type="bool", default=False),
        lambda_permission=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    events, lam = (module.client(service, retry_decorator=RETRY) for service in ("events", "lambda"))
    finish(module, lambda: ensure_rule(module, events, lam), f"EventBridge call failed for rule {module.params['name']}")


if __name__ == "__main__":
    main()
