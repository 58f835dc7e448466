"""lambda_image_function against the emulator: by digest, compare before write, waits and conflicts."""
from __future__ import annotations

import json

import pytest

from rehearsal.image_archive import build_archive
from tests.module_runner import run_module
from tests.modules.ecr_helpers import REPO, operations, push

REGISTRY = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
FUNCTION = "naverplace_send_inform_v2"
ROLE = "naver-sms-automation-lambda-role"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("lambda-archives")
    return [build_archive(root / f"img{seed}.tar", layers=[2048], seed=seed) for seed in (1, 2)]


@pytest.fixture
def world(emulator, aws, archives):
    """The image v1.0.0 (and v1.0.1) in ECR and the role in IAM."""
    digests = [push(emulator, archives[0], tags=["v1.0.0"], scan=False)["digest"],
               push(emulator, archives[1], tags=["v1.0.1"], scan=False)["digest"]]
    aws("iam").create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    return digests


def apply(endpoint, check=False, diff=False, **overrides):
    args = {"name": FUNCTION, "image": f"{REGISTRY}/{REPO}:v1.0.0", "role": ROLE, "memory": 512, "timeout": 300}
    args.update(overrides)
    return run_module("lambda_image_function", args, endpoint, check=check, diff=diff)


def test_four_steps_create_by_digest_then_no_write(proxy, aws, world):
    check = apply(proxy.url, check=True, diff=True)
    assert check["changed"] and not check.get("failed"), check
    assert check["diff"]["after"]["digest"] == world[0] and check["diff"]["after"]["memory"] == 512
    assert operations(proxy, mutating_only=True) == []
    assert aws("lambda").list_functions()["Functions"] == []

    created = apply(proxy.url)
    assert created["changed"] and created["version"] == "1", created
    function = aws("lambda").get_function(FunctionName=FUNCTION)
    config = function["Configuration"]
    assert function["Code"]["ImageUri"] == f"{REGISTRY}/{REPO}@{world[0]}"
    assert (config["PackageType"], config["MemorySize"], config["Timeout"]) == ("Image", 512, 300)
    assert "Environment" not in config or not config["Environment"].get("Variables")
    alias = aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == "1" and created["alias_arn"] == alias["AliasArn"]

    for check_mode in (True, False):
        proxy.clear()
        again = apply(proxy.url, check=check_mode)
        assert not again["changed"] and again["version"] == "1", again
        assert operations(proxy, mutating_only=True) == []


def test_a_new_digest_or_config_publishes_a_version_and_moves_the_alias(emulator, aws, world):
    apply(emulator)
    moved = apply(emulator, image=f"{REGISTRY}/{REPO}@{world[1]}", diff=True)
    assert moved["changes"] == ["code", "version", "alias"] and moved["version"] == "2", moved
    assert moved["diff"]["before"]["digest"] == world[0] and moved["diff"]["after"]["digest"] == world[1]
    bigger = apply(emulator, image=f"{REGISTRY}/{REPO}@{world[1]}", memory=1024)
    assert not bigger.get("failed"), bigger["msg"]
    assert bigger["changes"] == ["configuration", "version", "alias"] and bigger["version"] == "3", bigger
    assert aws("lambda").get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"] == "3"
    assert not apply(emulator, image=f"{REGISTRY}/{REPO}:v1.0.1", memory=1024)["changed"]


def test_waits_while_pending_and_retries_a_conflict(proxy, aws, world):
    apply(proxy.url)
    proxy.clear()
    proxy.script(r"^PUT /2015-03-31/functions/[^/]+/code", "conflict", count=2)
    proxy.script(r"^GET /2015-03-31/functions/[^/]+$", "pending", count=2)
    result = apply(proxy.url, image=f"{REGISTRY}/{REPO}:v1.0.1")
    assert result["changed"] and not result.get("failed") and result["version"] == "2", result
    calls = proxy.calls()
    assert sum(1 for c in calls if c["fault"] == "conflict") == 2
    assert sum(1 for c in calls if c["fault"] == "pending") == 2
    # the code update succeeded only after the conflicts, and the version was published after the wait
    ops = [c["operation"] for c in calls]
    code_puts = [i for i, op in enumerate(ops) if op.endswith("/code")]
    publish = next(i for i, op in enumerate(ops) if op.endswith("/versions") and op.startswith("POST"))
    assert len(code_puts) == 3 and publish > code_puts[-1]
    assert aws("lambda").get_function(FunctionName=FUNCTION)["Code"]["ImageUri"].endswith(world[1])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image": f"{REGISTRY}/{REPO}:v9.9.9"}, "tag v9.9.9 does not exist in ECR repository naver-sms-automation"),
        ({"role": "no-such-role"}, "role no-such-role does not exist"),
        ({"memory": 100}, "memory 100 is out of range: Lambda takes 128 to 10240 MB"),
        ({"timeout": 1000}, "timeout 1000 is out of range: Lambda takes 1 to 900 seconds"),
        ({"image": "naver-sms-automation:latest"}, "is not an ECR image reference"),
    ],
    ids=["unknown-tag", "unknown-role", "memory-100", "timeout-1000", "not-ecr"],
)
def test_bad_input_fails_clearly_without_writing(request, proxy, overrides, message):
    if "image" in overrides or "role" in overrides:
        request.getfixturevalue("world")  # the rest is refused before any call
    result = apply(proxy.url, **overrides)
    assert result.get("failed") and message in result["msg"], result
    assert operations(proxy, mutating_only=True) == []


def test_a_changed_environment_value_is_applied_and_never_shown(emulator, aws, world):
    apply(emulator, environment={"DEBUG": "1"})
    changed = apply(emulator, environment={"DEBUG": "0"}, diff=True)
    assert changed["changes"] == ["configuration", "version", "alias"], changed
    variables = aws("lambda").get_function(FunctionName=FUNCTION)["Configuration"]["Environment"]["Variables"]
    assert variables == {"DEBUG": "0"}
    shown = json.dumps({k: v for k, v in changed.items() if k != "invocation"})  # the input, shown at -vvv only
    assert changed["diff"]["after"]["environment"] == {"DEBUG": "(set)"} and '"0"' not in shown, shown
    assert changed["diff"]["before"]["environment"] == {"DEBUG": "(set)"} and '"1"' not in shown, shown
    assert not apply(emulator, environment={"DEBUG": "0"})["changed"]


def test_waits_for_the_published_version_before_moving_the_alias(proxy, aws, world):
    apply(proxy.url)
    proxy.clear()
    # the published version's configuration answers Pending twice, $LATEST is ready at once
    proxy.script(r"^GET /2015-03-31/functions/[^/]+/configuration$", "pending", count=2)
    result = apply(proxy.url, image=f"{REGISTRY}/{REPO}:v1.0.1")
    assert result["changed"] and not result.get("failed") and result["version"] == "2", result
    ops = [(c["operation"], c["fault"]) for c in proxy.calls()]
    publish = next(i for i, (op, _) in enumerate(ops) if op.startswith("POST") and op.endswith("/versions"))
    alias = next(i for i, (op, _) in enumerate(ops) if op.startswith("PUT") and "/aliases/" in op)
    waited = [fault for op, fault in ops[publish:alias] if op.endswith("/configuration")]
    assert waited == ["pending", "pending", None], ops
