#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_retire
short_description: Archive a Lambda function (kept, unable to run), clean its unused layer versions, purge it later
author:
  - naver-sms cutover team (@naver-sms-ops)
description:
  - Archives O(function) without deleting anything of it - tags C(archived-at) (the first archiving, never moved by
    a rerun) and C(delete-after) (O(retain_days) later), reserved concurrency 0 so nothing can invoke it; its code,
    configuration, versions and aliases stay as they are.
  - Deletes the versions of the layers O(layers) that no function (any version) uses any more, and keeps and
    names the ones still used, with the functions that use them.
  - With O(purge=true) deletes the function itself, only once C(delete-after) has passed (refused before, with the
    date); then its layer versions are no longer used and are deleted in the same run.
  - Idempotent - a second run makes no write. Check mode reports the same plan and writes nothing.
  - Bringing the function back is the reverse - remove the reserved concurrency (DeleteFunctionConcurrency) and
    re-enable its rule (after reconciling its state table, see the project README).
options:
  function:
    description: Name of the function to archive.
    type: str
    required: true
  retain_days:
    description: Days between C(archived-at) and C(delete-after).
    type: int
    default: 30
  layers:
    description: Names of the layers whose unused versions are deleted.
    type: list
    elements: str
    default: []
  purge:
    description: Delete the function (only after its C(delete-after) date).
    type: bool
    default: false
  as_of:
    description: The present (ISO) instead of the system clock - for a rehearsal only; playbooks refuse it on production.
    type: str
notes:
  - Also retries C(ResourceConflictException) (this module's own codes).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
"""

EXAMPLES = r"""
- name: Archive the old function, delete its layer versions nobody uses
  cutover.local.lambda_retire:
    function: naverplace_send_inform
    layers: [chromedriver, selenium]
    retain_days: 30

- name: Delete it after the retention
  cutover.local.lambda_retire:
    function: naverplace_send_inform
    layers: [chromedriver, selenium]
    purge: true
"""

RETURN = r"""
changed:
  description: Whether anything was (or in check mode would be) written.
  returned: always
  type: bool
changes:
  description: What was (or would be) done, in words, in order.
  returned: always
  type: list
  elements: str
exists:
  description: Whether the function exists (after the run; false once purged).
  returned: always
  type: bool
archived_at:
  description: The C(archived-at) tag (null when the function does not exist).
  returned: always
  type: str
delete_after:
  description: The C(delete-after) tag (null when the function does not exist).
  returned: always
  type: str
reserved_concurrency:
  description: The function's reserved concurrency after the run (0 = cannot run; null when it does not exist).
  returned: always
  type: int
purged:
  description: Whether the function was (or would be) deleted by this run.
  returned: always
  type: bool
layers_deleted:
  description: Layer version ARNs deleted (or to delete) - no function uses them.
  returned: always
  type: list
  elements: str
layers_kept:
  description: Layer version ARNs kept, each with the functions (and versions) that still use it.
  returned: always
  type: dict
diff:
  description: Before and after of the function's archive state and the layer versions (with --diff).
  returned: when diff mode is on
  type: dict
"""

from datetime import datetime, timezone

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code, paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible.module_utils.cutover import post_cutover as pc
from ansible.module_utils.cutover.aws import InputError, finish, get_or_none, retry_decorator
from ansible.module_utils.cutover.gate import GateInputError, parse_time


def read_function(lam, name):
    found = get_or_none(lam.get_function, FunctionName=name)
    if found is None:
        return None
    arn = found["Configuration"]["FunctionArn"]
    tags = (get_or_none(lam.list_tags, Resource=arn) or {}).get("Tags") or {}
    concurrency = (get_or_none(lam.get_function_concurrency, FunctionName=name) or {}).get("ReservedConcurrentExecutions")
    return {"arn": arn, "tags": tags, "concurrency": concurrency}


def layer_users(lam, skip=None):
    """{function (name:version): [layer version ARNs]} over every version of every function."""
    users = {}
    pages = paginated_query_with_retries(lam, "list_functions", FunctionVersion="ALL")
    for fn in pages.get("Functions", []):
        if fn["FunctionName"] == skip:
            continue
        users[f"{fn['FunctionName']}:{fn.get('Version', '$LATEST')}"] = [layer["Arn"] for layer in fn.get("Layers") or []]
    return users


def layer_versions(lam, names):
    """{layer name: [version ARNs]} (a layer that does not exist has none)."""
    found = {}
    for name in names:
        try:
            listed = paginated_query_with_retries(lam, "list_layer_versions", LayerName=name)
        except is_boto3_error_code("ResourceNotFoundException"):
            listed = {}
        found[name] = [v["LayerVersionArn"] for v in listed.get("LayerVersions", [])]
    return found


def retire(module, lam, params, now):
    check = module.check_mode
    changes, purged = [], False
    fn = read_function(lam, params["function"])
    before = {"exists": fn is not None, "tags": {k: v for k, v in (fn or {}).get("tags", {}).items()
                                                 if k in (pc.ARCHIVED_AT, pc.DELETE_AFTER)},
              "reserved_concurrency": (fn or {}).get("concurrency")}
    if params["purge"]:
        if fn is not None:
            refusal = pc.purge_decision(fn["tags"], now)
            if refusal:
                raise InputError(refusal)
            changes.append(f"delete function {params['function']} (delete-after {fn['tags'][pc.DELETE_AFTER]} has passed)")
            if not check:
                lam.delete_function(FunctionName=params["function"], aws_retry=True)
            purged = True
    elif fn is None:
        raise InputError(f"function {params['function']} does not exist: nothing to archive (already purged?)")
    else:
        wanted = pc.archive_tags(fn["tags"], now, params["retain_days"])
        missing = {k: v for k, v in wanted.items() if fn["tags"].get(k) != v}
        if missing:
            changes.append("tag " + ", ".join(f"{k}={v}" for k, v in sorted(missing.items())))
            if not check:
                lam.tag_resource(Resource=fn["arn"], Tags=missing, aws_retry=True)
        if fn["concurrency"] != 0:
            changes.append(f"reserved concurrency {'unreserved' if fn['concurrency'] is None else fn['concurrency']} -> 0 (nothing can invoke it)")
            if not check:
                lam.put_function_concurrency(FunctionName=params["function"], ReservedConcurrentExecutions=0,
                                             aws_retry=True)
        fn = dict(fn, tags=dict(fn["tags"], **wanted), concurrency=0)
    versions = layer_versions(lam, params["layers"])
    plan = pc.layer_plan(versions, layer_users(lam, skip=params["function"] if purged else None))
    for arn in plan["delete"]:
        changes.append(f"delete layer version {arn} (no function uses it)")
        if not check:
            name, number = arn.split(":")[-2:]
            lam.delete_layer_version(LayerName=name, VersionNumber=int(number), aws_retry=True)
    after_fn = None if purged else fn
    result = {"changed": bool(changes), "changes": changes, "exists": after_fn is not None,
              "archived_at": (after_fn or {}).get("tags", {}).get(pc.ARCHIVED_AT),
              "delete_after": (after_fn or {}).get("tags", {}).get(pc.DELETE_AFTER),
              "reserved_concurrency": (after_fn or {}).get("concurrency"), "purged": purged,
              "layers_deleted": plan["delete"], "layers_kept": plan["keep"]}
    if module._diff:
        result["diff"] = {
            "before": dict(before, layer_versions=sorted(a for arns in versions.values() for a in arns)),
            "after": {"exists": result["exists"], "tags": {k: v for k, v in (after_fn or {}).get("tags", {}).items()
                                                           if k in (pc.ARCHIVED_AT, pc.DELETE_AFTER)},
                      "reserved_concurrency": result["reserved_concurrency"],
                      "layer_versions": sorted(plan["keep"])}}
    return result


def main():
    argument_spec = dict(
        function=dict(type="str", required=True),
        retain_days=dict(type="int", default=30),
        layers=dict(type="list", elements="str", default=[]),
        purge=dict(type="bool", default=False),
        as_of=dict(type="str"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params["retain_days"] < 1:
        module.fail_json(msg=f"retain_days must be at least 1 (30 for the old function), got {params['retain_days']}")
    try:
        now = parse_time(params["as_of"], "as_of") if params["as_of"] else datetime.now(timezone.utc)
    except GateInputError as exc:
        module.fail_json(msg=str(exc))
    lam = module.client("lambda", retry_decorator=retry_decorator(["ResourceConflictException"]))
    finish(module, lambda: retire(module, lam, params, now), f"retiring function {params['function']} failed")


if __name__ == "__main__":
    main()
