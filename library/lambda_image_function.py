#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_image_function
short_description: A container-image Lambda function pinned to an image digest, with a published version and an alias
description:
  - Creates or updates a container-image function from O(image), given as tag or digest. A tag is
    resolved to its digest in ECR first; the function always references C(repository@sha256:...).
  - Compares before writing - a rerun with the same digest and configuration makes no write call.
  - Waits for C(State=Active) and C(LastUpdateStatus=Successful) (waiters C(function_active_v2) /
    C(function_updated_v2)) after every write, and retries C(ResourceConflictException) while an
    update is in progress.
  - Publishes a version only when the code or configuration changed (or the alias points at a version
    that differs from the wanted digest and configuration) and moves the alias to it.
  - The digest of a function is read from C(Code.ImageUri) (or C(CodeSha256)), never from
    C(ResolvedImageUri).
options:
  name:
    description: Function name.
    required: true
    type: str
  image:
    description:
      - C(ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG) or C(...REPOSITORY@sha256:DIGEST).
    required: true
    type: str
  role:
    description: Execution role name or ARN; it must exist.
    required: true
    type: str
  memory:
    description: Memory in MB (128 to 10240).
    type: int
    default: 512
  timeout:
    description: Timeout in seconds (1 to 900).
    type: int
    default: 300
  description:
    description: Function description.
    type: str
    default: ""
  architecture:
    description: Instruction set.
    type: str
    default: x86_64
    choices: [x86_64, arm64]
  ephemeral_storage:
    description: /tmp size in MB (512 to 10240).
    type: int
    default: 512
  environment:
    description: Environment variables; empty means none. Values are never shown in the diff.
    type: dict
    default: {}
  tags:
    description: Tags of the function (others are removed).
    type: dict
    default: {}
  reserved_concurrency:
    description: Reserved concurrent executions; omit to leave unreserved.
    type: int
  alias:
    description: Alias moved to the published version.
    type: str
    default: live
  wait_timeout:
    description: Seconds to wait for the function to be ready after a write.
    type: int
    default: 600
notes:
  - Also retries C(ResourceConflictException) (this module's own codes).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
author:
  - naver-sms cutover team (@naver-sms-ops)
"""

EXAMPLES = r"""
- name: Create the new function from the pushed digest
  cutover.local.lambda_image_function:
    name: naverplace_send_inform_v2
    image: "{{ pushed.image_uri }}"
    role: naver-sms-automation-lambda-role
    memory: 512
    timeout: 300
    alias: live
"""

RETURN = r"""
function_arn:
  description: Unqualified function ARN.
  returned: always
  type: str
alias_arn:
  description: ARN of the alias.
  returned: always
  type: str
version:
  description: Version the alias points at (null in check mode before the first publish).
  returned: always
  type: str
digest:
  description: Image digest the function runs.
  returned: always
  type: str
image_uri:
  description: Image URI by digest.
  returned: always
  type: str
changes:
  description: What changed (or would change) - code, configuration, tags, concurrency, version, alias.
  returned: always
  type: list
  elements: str
"""

import re

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.amazon.aws.plugins.module_utils.waiter import custom_waiter_config

from ansible.module_utils.cutover.arn import function_digest, placement_problem
from ansible.module_utils.cutover.aws import InputError, finish, get_or_none, retry_decorator

IMAGE_RE = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?)/(?P<repository>[a-z0-9._/-]+?)"
    r"(?::(?P<tag>[A-Za-z0-9_.-]{1,300}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
LIMITS = {"memory": (128, 10240, "MB"), "timeout": (1, 900, "seconds"), "ephemeral_storage": (512, 10240, "MB")}
MASK = "(set)"
WAIT_PAUSE = 1  # seconds between waiter polls: updates of an image function take seconds


def validate(params, region=None):
    for key, (low, high, unit) in LIMITS.items():
        value = params[key]
        if not low <= value <= high:
            raise InputError(f"{key} {value} is out of range: Lambda takes {low} to {high} {unit}")
    if params["reserved_concurrency"] is not None and params["reserved_concurrency"] < 0:
        raise InputError("reserved_concurrency must be 0 or more")
    match = IMAGE_RE.match(params["image"])
    if not match or not (match.group("tag") or match.group("digest")):
        raise InputError(
            f"image {params['image']} is not an ECR image reference: give "
            "ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG or ...REPOSITORY@sha256:DIGEST"
        )
    account = match.group("account")
    problem = placement_problem(
        "image", params["image"], "function", region=region, found_region=match.group("registry").split(".")[3],
        fix=f"push the image to ECR in {region} (playbooks/deploy_image.yml) and give that URI"
    ) or placement_problem(
        "role", params["role"], "image", account=account,
        fix=f"give a role of account {account} (Lambda takes no role of another account)")
    if problem:
        raise InputError(problem)
    return match


def resolve_image(ecr, match):
    """(digest, uri by digest); a tag is resolved in ECR, a digest must exist there."""
    reference = {"imageDigest": match.group("digest")} if match.group("digest") else {"imageTag": match.group("tag")}
    found = get_or_none(ecr.batch_get_image, missing="RepositoryNotFoundException", registryId=match.group("account"),
                        repositoryName=match.group("repository"), imageIds=[reference])
    images = (found or {}).get("images") or []
    if not images:
        what = f"tag {match.group('tag')}" if "imageTag" in reference else f"digest {match.group('digest')}"
        raise InputError(f"{what} does not exist in ECR repository {match.group('repository')}: "
                         "push the image first (playbooks/deploy_image.yml)")
    digest = images[0]["imageId"]["imageDigest"]
    return digest, f"{match.group('registry')}/{match.group('repository')}@{digest}"


def resolve_role(module, iam, role, account):
    """The role's ARN. In check mode a role the same play would create is only a warning."""
    name = role.rsplit("/", 1)[-1] if role.startswith("arn:") else role
    found = get_or_none(iam.get_role, missing="NoSuchEntity", RoleName=name)
    if found:
        return found["Role"]["Arn"]
    if module.check_mode:
        module.warn(f"role {role} does not exist (yet): a real run fails unless it is created first")
        return role if role.startswith("arn:") else f"arn:aws:iam::{account}:role/{name}"
    raise InputError(f"role {role} does not exist: create it first (playbooks/create_function.yml creates "
                     "naver-sms-automation-lambda-role) or give an existing role")


def config_view(config):
    """The comparable configuration of a function (or a desired one), environment values included."""
    return {
        "role": config.get("Role"),
        "memory": config.get("MemorySize"),
        "timeout": config.get("Timeout"),
        "description": config.get("Description") or "",
        "architecture": (config.get("Architectures") or ["x86_64"])[0],
        "ephemeral_storage": (config.get("EphemeralStorage") or {}).get("Size", 512),
        "environment": dict((config.get("Environment") or {}).get("Variables") or {}),
    }


def masked(view):
    """A view fit to show: environment values replaced by "(set)" (they may be secrets)."""
    return dict(view, environment={key: MASK for key in view.get("environment") or {}}) if view else view


def desired_config(params, role_arn):
    return {
        "Role": role_arn, "MemorySize": params["memory"], "Timeout": params["timeout"],
        "Description": params["description"], "Architectures": [params["architecture"]],
        "EphemeralStorage": {"Size": params["ephemeral_storage"]},
        "Environment": {"Variables": dict(params["environment"])},
    }


def wait(client, waiter, timeout, **target):
    client.get_waiter(waiter).wait(WaiterConfig=custom_waiter_config(timeout, default_pause=WAIT_PAUSE), **target)


def same_config(have, want):
    """Equal configurations; a role given by name equals the same role's ARN."""
    strip = {k: v for k, v in have.items() if k != "role"}, {k: v for k, v in want.items() if k != "role"}
    return strip[0] == strip[1] and (have["role"] or "").rsplit("/", 1)[-1] == (want["role"] or "").rsplit("/", 1)[-1]


def version_matches(client, name, version, digest, wanted_view):
    """True when a published version runs digest with the wanted configuration."""
    published = client.get_function(FunctionName=name, Qualifier=version, aws_retry=True)
    config = published["Configuration"]
    return function_digest(published.get("Code"), config) == digest and same_config(config_view(config), wanted_view)


def ensure_function(module, client, ecr, iam):
    params, check_mode = module.params, module.check_mode
    match = validate(params, module.region)
    digest, image_uri = resolve_image(ecr, match)
    role_arn = resolve_role(module, iam, params["role"], match.group("account"))
    name, wanted = params["name"], desired_config(params, role_arn)
    wanted_view = config_view(wanted)

    current = get_or_none(client.get_function, FunctionName=name)
    changes, version = [], None
    before = None
    if current is None:
        changes += ["create"]
    else:
        config = current["Configuration"]
        if config.get("PackageType") != "Image":
            raise InputError(f"function {name} exists as a {config.get('PackageType')} function; "
                             "it cannot become an image function: delete it or choose another name")
        have_view = config_view(config)
        before = dict(have_view, digest=function_digest(current.get("Code"), config), tags=current.get("Tags") or {},
                      reserved_concurrency=(current.get("Concurrency") or {}).get("ReservedConcurrentExecutions"))
        if before["digest"] != digest or have_view["architecture"] != wanted_view["architecture"]:
            changes.append("code")
        if not same_config(dict(have_view, architecture=None), dict(wanted_view, architecture=None)):
            changes.append("configuration")
        if any(compare_aws_tags(before["tags"], params["tags"], purge_tags=True)):
            changes.append("tags")
        if before["reserved_concurrency"] != params["reserved_concurrency"]:
            changes.append("concurrency")
    alias = get_or_none(client.get_alias, FunctionName=name, Name=params["alias"]) if current else None
    publish = "create" in changes or "code" in changes or "configuration" in changes
    if not publish and not (alias and version_matches(client, name, alias["FunctionVersion"], digest, wanted_view)):
        publish = True  # a half-done earlier run: $LATEST is right, the alias is not
    if publish:
        changes += ["version", "alias"]
    elif alias:
        version = alias["FunctionVersion"]

    function_arn = current["Configuration"]["FunctionArn"] if current else None
    if not check_mode and changes:
        function_arn, version = apply(client, params, current, changes, wanted, image_uri, version)

    after = dict(wanted_view, digest=digest, tags=params["tags"], reserved_concurrency=params["reserved_concurrency"])
    result = {
        "changed": bool(changes),
        "changes": changes,
        "function_arn": function_arn,
        "alias_arn": f"{function_arn}:{params['alias']}" if function_arn else None,
        "version": version,
        "digest": digest,
        "image_uri": image_uri,
    }
    if module._diff:
        result["diff"] = {"before": masked(before) or {}, "after": masked(after)}
    return result


def apply(client, params, current, changes, wanted, image_uri, version):
    name, wait_s = params["name"], params["wait_timeout"]
    if current is None:
        extra = {"Tags": params["tags"]} if params["tags"] else {}
        created = client.create_function(FunctionName=name, PackageType="Image", Code={"ImageUri": image_uri},
                                         Publish=False, aws_retry=True, **wanted, **extra)
        function_arn = created["FunctionArn"]
        wait(client, "function_active_v2", wait_s, FunctionName=name)
    else:
        function_arn = current["Configuration"]["FunctionArn"]
        if "configuration" in changes:
            settable = {k: v for k, v in wanted.items() if k != "Architectures"}  # that one goes with the code
            client.update_function_configuration(FunctionName=name, aws_retry=True, **settable)
            wait(client, "function_updated_v2", wait_s, FunctionName=name)
        if "code" in changes:
            client.update_function_code(FunctionName=name, ImageUri=image_uri, Architectures=wanted["Architectures"],
                                        aws_retry=True)
            wait(client, "function_updated_v2", wait_s, FunctionName=name)
        if "tags" in changes:
            fresh, stale = compare_aws_tags(current.get("Tags") or {}, params["tags"], purge_tags=True)
            if stale:
                client.untag_resource(Resource=function_arn, TagKeys=stale, aws_retry=True)
            if fresh:
                client.tag_resource(Resource=function_arn, Tags=fresh, aws_retry=True)
    if "concurrency" in changes or (current is None and params["reserved_concurrency"] is not None):
        if params["reserved_concurrency"] is None:
            client.delete_function_concurrency(FunctionName=name, aws_retry=True)
        else:
            client.put_function_concurrency(FunctionName=name, aws_retry=True,
                                            ReservedConcurrentExecutions=params["reserved_concurrency"])
    if "version" in changes:
        version = client.publish_version(FunctionName=name, aws_retry=True)["Version"]
        wait(client, "published_version_active", wait_s, FunctionName=name, Qualifier=version)
        if get_or_none(client.get_alias, FunctionName=name, Name=params["alias"]) is None:
            client.create_alias(FunctionName=name, Name=params["alias"], FunctionVersion=version, aws_retry=True)
        else:
            client.update_alias(FunctionName=name, Name=params["alias"], FunctionVersion=version, aws_retry=True)
    return function_arn, version


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        image=dict(type="str", required=True),
        role=dict(type="str", required=True),
        memory=dict(type="int", default=512),
        timeout=dict(type="int", default=300),
        description=dict(type="str", default=""),
        architecture=dict(type="str", default="x86_64", choices=["x86_64", "arm64"]),
        ephemeral_storage=dict(type="int", default=512),
        environment=dict(type="dict", default={}),
        tags=dict(type="dict", default={}),
        reserved_concurrency=dict(type="int"),
        alias=dict(type="str", default="live"),
        wait_timeout=dict(type="int", default=600),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    retry = retry_decorator(["ResourceConflictException"])
    clients = [module.client(service, retry_decorator=retry) for service in ("lambda", "ecr", "iam")]
    finish(module, lambda: ensure_function(module, *clients),
           f"Lambda call failed for function {module.params['name']} (a wait: see its State/LastUpdateStatusReason "
           "with aws lambda get-function)")


if __name__ == "__main__":
    main()
