#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: A CloudWatch dashboard as code, written only when its JSON differs
description:
  - Ensures the dashboard O(name) holds exactly O(body). The body found (GetDashboard) and the one wanted
    are compared as parsed JSON; PutDashboard is called only when they differ, so a rerun makes no write.
  - Check mode tells whether it would write; diff shows the body before and after.
  - O(state=absent) deletes the dashboard.
author:
  - naver-sms cutover team (@naver-sms-ops)
options:
  name:
    description: Dashboard name (letters, digits, C(-), C(_); at most 255 characters).
    required: true
    type: str
  body:
    description: The dashboard body (a dict with C(widgets)). Exclusive with O(cutover_names).
    type: dict
  cutover_names:
    description:
      - Build the cutover's dashboard from these names (C(dashboard_body) in C(module_utils/cutover/monitoring.py))
        - keys C(old_function), C(new_function), C(old_table), C(new_table), C(namespace), C(function_namespace),
        C(region), C(alarms) (alarm ARNs), C(stores) (store ids; empty - one search over every store),
        C(sms_types).
      - Exclusive with O(body).
    type: dict
  state:
    description: Whether the dashboard exists.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Write the cutover dashboard from the inventory's names
  cutover.local.cloudwatch_dashboard:
    name: naver-sms-cutover
    cutover_names:
      old_function: naverplace_send_inform
      new_function: naverplace_send_inform_v2
      old_table: sms
      new_table: sms_v2
      namespace: naver-sms/comparison
      function_namespace: naver-sms/automation
      region: ap-northeast-2
      alarms: ["arn:aws:cloudwatch:ap-northeast-2:654654307503:alarm:naver-sms-cutover-discrepancies"]
      stores: []
      sms_types: [confirm, guide, event]

- name: Write any dashboard body
  cutover.local.cloudwatch_dashboard:
    name: my-dashboard
    body: "{{ lookup('ansible.builtin.file', 'dashboard.json') | from_json }}"
"""

RETURN = r"""
dashboard_arn:
  description: ARN of the dashboard (null when absent or in check mode before it exists).
  returned: always
  type: str
widgets:
  description: Number of widgets in the body wanted (0 for O(state=absent)).
  returned: always
  type: int
validation_messages:
  description: What PutDashboard reported about the body (empty when it accepted it as is).
  returned: always
  type: list
  elements: dict
"""

import json
import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover.aws import InputError, finish, retry_decorator
from ansible.module_utils.cutover.monitoring import dashboard_body

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


NAME_KEYS = ("old_function", "new_function", "old_table", "new_table", "namespace", "function_namespace", "region",
             "alarms", "stores", "sms_types")


def wanted_body(params):
    """The body to write: given as is, or built from the cutover's names (pure core)."""
    if params["state"] == "absent":
        return None
    names = params["cutover_names"]
    if names is None:
        return params["body"]
    missing = [k for k in NAME_KEYS if k not in names]
    if missing:
        raise InputError(f"cutover_names lacks {', '.join(missing)}: give every one of {', '.join(NAME_KEYS)}")
    return dashboard_body(names)


def validate(params, body):
    if not NAME_RE.match(params["name"]):
        raise InputError(f"dashboard name {params['name']!r} may hold only letters, digits, '-' and '_' "
                         "(at most 255 characters)")
    if params["state"] == "present":
        if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
            raise InputError("body must be a dict with a 'widgets' list (CloudWatch dashboard body)")


def current_body(client, name):
    try:
        found = client.get_dashboard(DashboardName=name, aws_retry=True)
    except is_boto3_error_code(("ResourceNotFound", "ResourceNotFoundException")):
        return None, None
    return json.loads(found.get("DashboardBody") or "{}"), found.get("DashboardArn")


def ensure_dashboard(module, client):
    params = module.params
    want = wanted_body(params)
    validate(params, want)
    before, arn = current_body(client, params["name"])
    changed = before != want
    messages = []
    if changed and not module.check_mode:
        if want is None:
            client.delete_dashboards(DashboardNames=[params["name"]], aws_retry=True)
            arn = None
        else:
            resp = client.put_dashboard(DashboardName=params["name"], DashboardBody=json.dumps(want, sort_keys=True),
                                        aws_retry=True)
            messages = resp.get("DashboardValidationMessages", [])
            arn = current_body(client, params["name"])[1]
    result = {"changed": changed, "dashboard_arn": arn, "widgets": len((want or {}).get("widgets", [])),
              "validation_messages": messages}
    if module._diff:
        result["diff"] = {"before": before or {}, "after": want or {}}
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        body=dict(type="dict"),
        cutover_names=dict(type="dict"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              mutually_exclusive=[("body", "cutover_names")],
                              required_if=[("state", "present", ("body", "cutover_names"), True)])
    finish(module, lambda: ensure_dashboard(module, module.client("cloudwatch", retry_decorator=retry_decorator())),
           f"CloudWatch call failed for dashboard {module.params['name']}")


if __name__ == "__main__":
    main()
