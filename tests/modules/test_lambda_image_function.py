"""lambda_image_function against the emulator: by digest, compare before write, waits and conflicts."""
from __future__ import annotations

import itertools
import json

import pytest
from botocore.exceptions import ClientError

from rehearsal.image_archive import build_archive
from tests.conftest import SharedWorld, aws_client
from tests.module_runner import _load, run_module
from tests.modules.ecr_helpers import REPO, operations, push

REGISTRY = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
FUNCTION = "naverplace_send_inform_v2"
ROLE = "naver-sms-automation-lambda-role"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def _build(url: str, archives) -> list[str]:
    """The image v1.0.0 (and v1.0.1) in ECR and the role in IAM: the digests."""
    digests = [push(url, archives[0], tags=["v1.0.0"], scan=False)["digest"],
               push(url, archives[1], tags=["v1.0.1"], scan=False)["digest"]]
    aws_client("iam", url).create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    return digests


def _present(url: str) -> bool:
    try:
        aws_client("iam", url).get_role(RoleName=ROLE)
    except ClientError:
        return False
    return True


@pytest.fixture(scope="module")
def images(emulator_server, tmp_path_factory):
    """One world for the module (the images and the role are only read); each test makes its own function."""
    root = tmp_path_factory.mktemp("lambda-archives")
    archives = [build_archive(root / f"img{seed}.tar", layers=[2048], seed=seed) for seed in (1, 2)]
    return SharedWorld(emulator_server.url, lambda url: _build(url, archives), lambda _digests: _present(emulator_server.url))


@pytest.fixture
def world(images, shared_emulator):
    """The digests of v1.0.0 and v1.0.1 (the module's shared world)."""
    return images.get()


@pytest.fixture(autouse=True)
def _short_waiter_pause(monkeypatch):
    """The module pauses WAIT_PAUSE (1 s) between waiter polls; a scripted Pending is as much a Pending after 0.05 s."""
    monkeypatch.setattr(_load("lambda_image_function"), "WAIT_PAUSE", 0.05)


_NUMBER = itertools.count(1)


@pytest.fixture
def fn():
    """A function name of the test's own on the shared world (versions count from 1 for each test)."""
    return f"{FUNCTION}_{next(_NUMBER)}"


# This module's tests never reset the emulator (that would drop the shared world): here `emulator`, `aws` and
# `proxy` are the session's emulator as it stands, a client of it and a fresh proxy in front of it.
@pytest.fixture
def emulator(shared_emulator):
    return shared_emulator


@pytest.fixture
def aws(shared_emulator):
    return lambda service: aws_client(service, shared_emulator)


@pytest.fixture
def proxy(shared_proxy):
    return shared_proxy


def apply(endpoint, name, check=False, diff=False, **overrides):
    args = {"name": name, "image": f"{REGISTRY}/{REPO}:v1.0.0", "role": ROLE, "memory": 512, "timeout": 300}
    args.update(overrides)
    return run_module("lambda_image_function", args, endpoint, check=check, diff=diff)


def test_four_steps_create_by_digest_then_no_write(proxy, aws, world, fn):
    check = apply(proxy.url, fn, check=True, diff=True)
    assert check["changed"] and not check.get("failed"), check
    assert check["diff"]["after"]["digest"] == world[0] and check["diff"]["after"]["memory"] == 512
    assert operations(proxy, mutating_only=True) == []
    assert fn not in [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]]

    created = apply(proxy.url, fn)
    assert created["changed"] and created["version"] == "1", created
    function = aws("lambda").get_function(FunctionName=fn)
    config = function["Configuration"]
    assert function["Code"]["ImageUri"] == f"{REGISTRY}/{REPO}@{world[0]}"
    assert (config["PackageType"], config["MemorySize"], config["Timeout"]) == ("Image", 512, 300)
    assert "Environment" not in config or not config["Environment"].get("Variables")
    alias = aws("lambda").get_alias(FunctionName=fn, Name="live")
    assert alias["FunctionVersion"] == "1" and created["alias_arn"] == alias["AliasArn"]

    for check_mode in (True, False):
        proxy.clear()
        again = apply(proxy.url, fn, check=check_mode)
        assert not again["changed"] and again["version"] == "1", again
        assert operations(proxy, mutating_only=True) == []


def test_a_new_digest_or_config_publishes_a_version_and_moves_the_alias(emulator, aws, world, fn):
    apply(emulator, fn)
    moved = apply(emulator, fn, image=f"{REGISTRY}/{REPO}@{world[1]}", diff=True)
    assert moved["changes"] == ["code", "version", "alias"] and moved["version"] == "2", moved
    assert moved["diff"]["before"]["digest"] == world[0] and moved["diff"]["after"]["digest"] == world[1]
    bigger = apply(emulator, fn, image=f"{REGISTRY}/{REPO}@{world[1]}", memory=1024)
    assert not bigger.get("failed"), bigger["msg"]
    assert bigger["changes"] == ["configuration", "version", "alias"] and bigger["version"] == "3", bigger
    assert aws("lambda").get_alias(FunctionName=fn, Name="live")["FunctionVersion"] == "3"
    assert not apply(emulator, fn, image=f"{REGISTRY}/{REPO}:v1.0.1", memory=1024)["changed"]


def test_waits_while_pending_and_retries_a_conflict(proxy, aws, world, fn):
    apply(proxy.url, fn)
    proxy.clear()
    proxy.script(r"^PUT /2015-03-31/functions/[^/]+/code", "conflict", count=2)
    proxy.script(r"^GET /2015-03-31/functions/[^/]+$", "pending", count=2)
    result = apply(proxy.url, fn, image=f"{REGISTRY}/{REPO}:v1.0.1")
    assert result["changed"] and not result.get("failed") and result["version"] == "2", result
    calls = proxy.calls()
    assert sum(1 for c in calls if c["fault"] == "conflict") == 2
    assert sum(1 for c in calls if c["fault"] == "pending") == 2
    # the code update succeeded only after the conflicts, and the version was published after the wait
    ops = [c["operation"] for c in calls]
    code_puts = [i for i, op in enumerate(ops) if op.endswith("/code")]
    publish = next(i for i, op in enumerate(ops) if op.endswith("/versions") and op.startswith("POST"))
    assert len(code_puts) == 3 and publish > code_puts[-1]
    assert aws("lambda").get_function(FunctionName=fn)["Code"]["ImageUri"].endswith(world[1])


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
def test_bad_input_fails_clearly_without_writing(request, proxy, overrides, message, fn):
    if "image" in overrides or "role" in overrides:
        request.getfixturevalue("world")  # the rest is refused before any call
    result = apply(proxy.url, fn, **overrides)
    assert result.get("failed") and message in result["msg"], result
    assert operations(proxy, mutating_only=True) == []


def test_a_changed_environment_value_is_applied_and_never_shown(emulator, aws, world, fn):
    apply(emulator, fn, environment={"DEBUG": "1"})
    changed = apply(emulator, fn, environment={"DEBUG": "0"}, diff=True)
    assert changed["changes"] == ["configuration", "version", "alias"], changed
    variables = aws("lambda").get_function(FunctionName=fn)["Configuration"]["Environment"]["Variables"]
    assert variables == {"DEBUG": "0"}
    shown = json.dumps({k: v for k, v in changed.items() if k != "invocation"})  # the input, shown at -vvv only
    assert changed["diff"]["after"]["environment"] == {"DEBUG": "(set)"} and '"0"' not in shown, shown
    assert changed["diff"]["before"]["environment"] == {"DEBUG": "(set)"} and '"1"' not in shown, shown
    assert not apply(emulator, fn, environment={"DEBUG": "0"})["changed"]


def test_waits_for_the_published_version_before_moving_the_alias(proxy, aws, world, fn):
    apply(proxy.url, fn)
    proxy.clear()
    # the published version's configuration answers Pending twice, $LATEST is ready at once
    proxy.script(r"^GET /2015-03-31/functions/[^/]+/configuration$", "pending", count=2)
    result = apply(proxy.url, fn, image=f"{REGISTRY}/{REPO}:v1.0.1")
    assert result["changed"] and not result.get("failed") and result["version"] == "2", result
    ops = [(c["operation"], c["fault"]) for c in proxy.calls()]
    publish = next(i for i, (op, _) in enumerate(ops) if op.startswith("POST") and op.endswith("/versions"))
    alias = next(i for i, (op, _) in enumerate(ops) if op.startswith("PUT") and "/aliases/" in op)
    waited = [fault for op, fault in ops[publish:alias] if op.endswith("/configuration")]
    assert waited == ["pending", "pending", None], ops
