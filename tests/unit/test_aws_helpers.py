"""module_utils/cutover/aws.py: the one "get or None" pattern and the one error path of the modules."""
from __future__ import annotations

import botocore.exceptions
import pytest

from module_utils.cutover.aws import InputError, finish, get_or_none


def _error(code):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": code}}, "Op")


class Call:
    def __init__(self, outcome):
        self.outcome, self.kwargs = outcome, None

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


@pytest.mark.parametrize(
    "outcome, missing, expected",
    [
        ({"Rule": 1}, "ResourceNotFoundException", {"Rule": 1}),
        (_error("ResourceNotFoundException"), "ResourceNotFoundException", None),
        (_error("NoSuchEntity"), "NoSuchEntity", None),
        (_error("ScanNotFoundException"), ["ScanNotFoundException", "LimitExceededException"], None),
    ],
    ids=["found", "not-found", "other-code", "one-of-codes"],
)
def test_get_or_none(outcome, missing, expected):
    call = Call(outcome)
    assert get_or_none(call, missing=missing, Name="x") == expected
    assert call.kwargs == {"Name": "x", "aws_retry": True}


def test_get_or_none_lets_other_errors_through():
    with pytest.raises(botocore.exceptions.ClientError):
        get_or_none(Call(_error("AccessDeniedException")), Name="x")


class Module:
    def __init__(self):
        self.exit = None

    def fail_json(self, **kwargs):
        self.exit = ("fail_json", kwargs)
        raise SystemExit(1)

    def fail_json_aws(self, exc, msg):
        self.exit = ("fail_json_aws", {"msg": msg, "error": type(exc).__name__})
        raise SystemExit(1)

    def exit_json(self, **kwargs):
        self.exit = ("exit_json", kwargs)
        raise SystemExit(0)


def _raise(exc):
    raise exc


@pytest.mark.parametrize(
    "ensure, expected",
    [
        (lambda: {"changed": True}, ("exit_json", {"changed": True})),
        (lambda: _raise(InputError("bad name: rename")), ("fail_json", {"msg": "bad name: rename"})),
        (lambda: _raise(_error("AccessDeniedException")),
         ("fail_json_aws", {"msg": "call failed", "error": "ClientError"})),
        (lambda: _raise(botocore.exceptions.WaiterError(name="w", reason="Max attempts exceeded", last_response={})),
         ("fail_json_aws", {"msg": "call failed: gave up waiting", "error": "WaiterError"})),
    ],
    ids=["result", "input-error", "aws-error", "waiter"],
)
def test_finish_is_the_one_error_path(ensure, expected):
    module = Module()
    with pytest.raises(SystemExit):
        finish(module, ensure, "call failed")
    assert module.exit == expected
