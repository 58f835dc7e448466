"""module_utils/cutover/aws.py: the one "get or None" pattern and the one error path of the modules."""
from __future__ import annotations

import botocore.exceptions
import pytest

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper

from module_utils.cutover.aws import InputError, finish, get_or_none, retry_decorator, scan_items


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



class Table:
    """A fake DynamoDB client: ``items`` served in pages of ``Limit`` (per segment: item i in segment i % n); the
    call numbered ``throttle_at`` (1-based, over all calls) answers ThrottlingException."""

    def __init__(self, items, throttle_at=0):
        self.items, self.throttle_at, self.calls = items, throttle_at, []

    def scan(self, **kwargs):
        self.calls.append(dict(kwargs))
        if len(self.calls) == self.throttle_at:
            raise _error("ThrottlingException")
        total, number = kwargs.get("TotalSegments", 1), kwargs.get("Segment", 0)
        mine = [item for i, item in enumerate(self.items) if i % total == number]
        start, limit = kwargs.get("ExclusiveStartKey", {}).get("n", 0), kwargs.get("Limit", 1000)
        answer = {"Items": mine[start:start + limit]}
        if start + limit < len(mine):
            answer["LastEvaluatedKey"] = {"n": start + limit}
        return answer


ITEMS = [{"booking_num": {"S": f"1051_{i}"}} for i in range(25)]


@pytest.mark.parametrize("segments, page, calls", [(1, 10, 3), (1, None, 1), (3, 4, 3 + 2 + 2)],
                         ids=["pages", "one-call", "parallel-segments"])
def test_scan_items_reads_every_page_of_every_segment(segments, page, calls):
    table = Table(ITEMS)
    items = scan_items(RetryingBotoClientWrapper(table, retry_decorator()), "sms", segments=segments, page=page)
    assert sorted(i["booking_num"]["S"] for i in items) == sorted(i["booking_num"]["S"] for i in ITEMS)
    assert len(table.calls) == calls


def test_scan_items_retries_one_page_not_the_whole_scan():
    table = Table(ITEMS, throttle_at=3)  # the third page throttled: the module's client retries that call alone
    items = scan_items(RetryingBotoClientWrapper(table, retry_decorator()), "sms", page=10, consistent=True,
                       attributes=["booking_num", "name"])
    assert items == ITEMS
    assert [c.get("ExclusiveStartKey") for c in table.calls] == [None, {"n": 10}, {"n": 20}, {"n": 20}]
    assert all(c["ConsistentRead"] and c["Limit"] == 10 and c["ProjectionExpression"] == "#a0, #a1"
               and c["ExpressionAttributeNames"] == {"#a0": "booking_num", "#a1": "name"} for c in table.calls)
# --- retry_decorator behind botocore's own retries, and waiters through a transient poll
class Client:
    """A client whose every call fails with `codes` in turn (then succeeds); `retries` is its botocore config."""

    def __init__(self, retries, codes):
        self.meta = type("Meta", (), {"config": type("Config", (), {"retries": retries})()})()
        self.codes, self.tries = list(codes), 0

    def put(self):
        self.tries += 1
        if self.codes:
            code = self.codes.pop(0)
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="x") if code == "drop" else _error(code)
        return "ok"


@pytest.fixture
def no_sleep(monkeypatch):
    import time

    monkeypatch.setattr(time, "sleep", lambda s: None)


DEFAULT = {"mode": "standard"}
FROM_INVENTORY = {"mode": "standard", "total_max_attempts": 11}


@pytest.mark.parametrize(
    "retries, extra, codes, tries, outcome",
    [
        (DEFAULT, [], ["ThrottlingException"] * 20, 10, "ThrottlingException"),
        (FROM_INVENTORY, [], ["ThrottlingException"] * 20, 3, "ThrottlingException"),
        (FROM_INVENTORY, [], ["503", "ThrottlingException"], 3, "ok"),
        (FROM_INVENTORY, ["ResourceConflictException"], ["ResourceConflictException"] * 20, 10,
         "ResourceConflictException"),
        (FROM_INVENTORY, ["ResourceConflictException"], ["ResourceConflictException"] * 9, 10, "ok"),
        (DEFAULT, [], ["drop"] * 20, 5, "EndpointConnectionError"),
        (FROM_INVENTORY, [], ["drop"] * 20, 2, "EndpointConnectionError"),
        (FROM_INVENTORY, [], ["AccessDeniedException"], 1, "AccessDeniedException"),
        (FROM_INVENTORY, ["ResourceConflictException"],
         ["ResourceConflictException"] * 9 + ["ThrottlingException"] + ["ResourceConflictException"] * 20, 11,
         "ResourceConflictException"),
        (DEFAULT, ["ResourceConflictException"], ["drop", "ThrottlingException", "ResourceConflictException"] * 9,
         13, "EndpointConnectionError"),
    ],
    ids=["default-10", "behind-sdk-3", "behind-sdk-recovers", "own-code-keeps-10", "own-code-recovers",
         "drop-default", "drop-behind-sdk", "not-transient", "kinds-add-up-behind-sdk", "kinds-add-up"],
)
def test_retry_decorator_tries(no_sleep, retries, extra, codes, tries, outcome):
    """Behind a client that retries itself (the inventories' aws_config) the shared codes get 3 tries, not 10, and
    a dropped connection one more; the module's own codes (botocore does not know them) keep 10. Each kind counts
    its own failures in one loop: a call failing with several kinds stops when one kind used its tries (9 own, a
    throttle, then the 10th own; 5 drops among 13 tries), where nested layers started the inner count again."""
    from module_utils.cutover.aws import retry_decorator

    client = Client(retries, codes)
    call = retry_decorator(extra)(client.put)
    try:
        result = call()
    except (botocore.exceptions.ClientError, botocore.exceptions.EndpointConnectionError) as exc:
        result = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
    assert (client.tries, result) == (tries, outcome)


@pytest.mark.parametrize("retries, attempts", [({"mode": "standard"}, 3), ({"max_attempts": 10}, 11),
                                               ({"total_max_attempts": 11}, 11), (None, 3)])
def test_sdk_attempts(retries, attempts):
    from module_utils.cutover.aws import sdk_attempts

    assert sdk_attempts(Client(retries, []).put) == attempts
    assert sdk_attempts(len) == 3  # not a client's method


@pytest.mark.parametrize("codes, polls, outcome", [(["503", "500"], 3, "ok"), (["503"] * 9, 4, "503"),
                                                   (["404"], 1, "404")],
                         ids=["transient-then-ok", "transient-gives-up", "other-error"])
def test_wait_through_faults(no_sleep, codes, polls, outcome):
    from module_utils.cutover.aws import wait_through_faults

    seen = []

    def wait():
        seen.append(1)
        if codes:
            code = codes.pop(0)
            raise botocore.exceptions.WaiterError(name="BucketExists", reason=f"An error occurred ({code})",
                                                  last_response={"Error": {"Code": code}})
        return "ok"

    try:
        result = wait_through_faults(wait)
    except botocore.exceptions.WaiterError as exc:
        result = exc.last_response["Error"]["Code"]
    assert (len(seen), result) == (polls, outcome)
