"""module_utils/cutover/arn.py: where an ARN points, and the refusal when it is elsewhere."""
from __future__ import annotations

import pytest

from module_utils.cutover.arn import arn_parts, bucket_account_problem, placement_problem

FN = "arn:aws:lambda:ap-northeast-2:123456789012:function:f"


@pytest.mark.parametrize("arn, expected", [
    (FN, {"partition": "aws", "service": "lambda", "region": "ap-northeast-2", "account": "123456789012",
          "resource": "function:f"}),
    ("arn:aws:iam::123456789012:role/r", {"partition": "aws", "service": "iam", "region": "", "account": "123456789012",
                                          "resource": "role/r"}),
    ("naver-sms-automation:v1", None),
    ("", None),
])
def test_arn_parts(arn, expected):
    assert arn_parts(arn) == expected


@pytest.mark.parametrize("kwargs, expected", [
    ({"region": "ap-northeast-2", "account": "123456789012"}, None),
    ({"region": "us-east-1"}, f"target {FN} is in region ap-northeast-2 but the rule is in region us-east-1: fix it"),
    ({"account": "999999999999"}, f"target {FN} belongs to account 123456789012 but the rule is in account 999999999999: fix it"),
    ({}, None),
    ({"region": "ap-northeast-2", "found_region": "eu-west-1"},
     f"target {FN} is in region eu-west-1 but the rule is in region ap-northeast-2: fix it"),
])
def test_placement_problem(kwargs, expected):
    assert placement_problem("target", FN, "rule", fix="fix it", **kwargs) == expected


def test_iam_arn_has_no_region_to_compare():
    assert placement_problem("role", "arn:aws:iam::123456789012:role/r", "image", region="ap-northeast-2") is None
    assert placement_problem("role", "plain-name", "image", account="123456789012") is None


@pytest.mark.parametrize("bucket, account, bad", [
    ("naver-sms-cutover-state-123456789012", "123456789012", False),
    ("naver-sms-cutover-state-999999999999", "123456789012", True),
    ("my-bucket", "123456789012", False),
])
def test_bucket_account_problem(bucket, account, bad):
    assert bool(bucket_account_problem(bucket, account)) == bad
