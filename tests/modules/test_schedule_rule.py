"""schedule_rule against the emulator: one rule, one target, mode input, permission; idempotent."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.module_runner import run_module
from tests.modules.ecr_helpers import operations

RULE = "naver-sms-automation-v2-trigger"
FUNCTION = "naverplace_send_inform_v2"


@pytest.fixture
def alias_arn(aws):
    """A function with alias live (a zip stand-in: the rule does not care what the function runs)."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = aws("iam").create_role(RoleName="r-test", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    lam = aws("lambda")
    lam.create_function(FunctionName=FUNCTION, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": buf.getvalue()})
    version = lam.publish_version(FunctionName=FUNCTION)["Version"]
    return lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=version)["AliasArn"]


def rule(endpoint, target, check=False, diff=False, **overrides):
    args = {"name": RULE, "schedule": "cron(0/20 * * * ? *)", "state": "DISABLED", "mode": "shadow",
            "target_arn": target}
    args.update(overrides)
    return run_module("schedule_rule", args, endpoint, check=check, diff=diff)


def test_four_steps_rule_disabled_in_shadow_then_no_write(proxy, aws, alias_arn):
    check = rule(proxy.url, alias_arn, check=True, diff=True)
    assert check["changed"] and check["diff"]["before"] == {}, check
    assert operations(proxy, mutating_only=True) == []
    assert aws("events").list_rules()["Rules"] == []

    created = rule(proxy.url, alias_arn)
    assert created["changed"] and created["changes"] == ["rule", "target", "permission"], created
    described = aws("events").describe_rule(Name=RULE)
    assert (described["State"], described["ScheduleExpression"]) == ("DISABLED", "cron(0/20 * * * ? *)")
    targets = aws("events").list_targets_by_rule(Rule=RULE)["Targets"]
    assert [(t["Arn"], json.loads(t["Input"])) for t in targets] == [(alias_arn, {"mode": "shadow"})]
    policy = json.loads(aws("lambda").get_policy(FunctionName=FUNCTION, Qualifier="live")["Policy"])
    assert [s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in policy["Statement"]] == [described["Arn"]]

    for check_mode in (True, False):
        proxy.clear()
        again = rule(proxy.url, alias_arn, check=check_mode)
        assert not again["changed"] and not again.get("failed"), again
        assert operations(proxy, mutating_only=True) == []


def test_mode_and_state_changes_are_applied_and_extra_targets_removed(emulator, aws, alias_arn):
    rule(emulator, alias_arn)
    aws("events").put_targets(Rule=RULE, Targets=[{"Id": "stray", "Arn": alias_arn}])
    live = rule(emulator, alias_arn, mode="live", state="ENABLED", diff=True)
    assert live["changes"] == ["rule", "target", "extra_targets_removed"], live
    assert live["diff"]["before"]["target"]["Input"] == {"mode": "shadow"}
    targets = aws("events").list_targets_by_rule(Rule=RULE)["Targets"]
    assert [json.loads(t["Input"]) for t in targets] == [{"mode": "live"}]
    assert aws("events").describe_rule(Name=RULE)["State"] == "ENABLED"
    assert not rule(emulator, alias_arn, mode="live", state="ENABLED")["changed"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"name": "n" * 65}, "is 65 characters; EventBridge allows at most 64"),
        ({"schedule": "rate(20 minute)"}, "invalid schedule expression 'rate(20 minute)'"),
        ({"schedule": "cron(0/20 * * * * *)"}, "invalid schedule expression"),
        ({"name": "bad name!"}, "may hold only letters"),
    ],
    ids=["name-65", "rate-singular", "cron-two-stars", "bad-chars"],
)
def test_bad_input_fails_clearly_without_any_call(proxy, overrides, message):
    target = "arn:aws:lambda:ap-northeast-2:123456789012:function:f:live"
    result = rule(proxy.url, target, **overrides)
    assert result.get("failed") and message in result["msg"], result
    assert proxy.calls() == []
