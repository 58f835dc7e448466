"""AWS plumbing shared by the custom modules (not part of the pure core: the core never imports it).

How a module uses it (library/schedule_rule.py is the model)::

    from ansible.module_utils.cutover.aws import InputError, finish, get_or_none, retry_decorator

    def ensure_x(module, client):                     # plain function: reads, plans, writes
        rule = get_or_none(client.describe_rule, Name=name)   # None when AWS says "not found"
        ...
        if bad_input:
            raise InputError("what is wrong and what to do")  # before any mutating call
        return {"changed": ..., ...}

    def main():
        module = AnsibleAWSModule(argument_spec=..., supports_check_mode=True)
        client = module.client("events", retry_decorator=retry_decorator(["ConcurrentModificationException"]))
        finish(module, lambda: ensure_x(module, client), f"EventBridge call failed for rule {name}")

- ``finish`` is the one error path: InputError -> ``fail_json(msg)``; a botocore waiter that gave up or
  any other botocore error -> ``fail_json_aws`` (message, error code, request id); else
  ``exit_json(**result)``.
- ``get_or_none`` is the one "read it, or None when it does not exist" pattern (pass the service's
  not-found codes when they are not ``ResourceNotFoundException``).
- ``retry_decorator(extra)`` retries the transient codes (``AWSRetry``'s defaults and ``RETRY_ERROR_CODES``),
  the codes passed per service that mean "try again" there (``ResourceConflictException`` for Lambda) and a
  dropped or timed-out connection once botocore's own retries gave up, each kind with its own number of tries
  (``TRIES_ALONE``), in one layer. Under it, botocore's own retries (``aws_config`` from ``cutover_aws``,
  standard mode, max_attempts 10) take the transient answers first; behind such a client the tries of the codes
  botocore retries itself shrink (``sdk_attempts``, ``TRIES_BEHIND_SDK``) so that the two do not multiply.
- Waiters: ``client.get_waiter(name).wait(..., WaiterConfig=custom_waiter_config(timeout))`` from
  amazon.aws ``module_utils.waiter``; paging: ``paginated_query_with_retries`` from
  ``module_utils.botocore``; tags: ``compare_aws_tags`` from ``module_utils.tagging``.
- ``scan_items`` reads a whole DynamoDB table (optionally a parallel scan, a projection), each page retried
  on its own: the one table read of ``dynamodb_state`` and ``output_compare``.
"""
from __future__ import annotations

import functools
import random
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Transient codes AWSRetry.jittered_backoff() does not retry by default (it already retries
# RequestLimitExceeded, Unavailable, ServiceUnavailable, InternalFailure, InternalError,
# TooManyRequestsException and Throttling); see DESIGN.md, "Retries".
RETRY_ERROR_CODES = [
    "ThrottlingException",  # ECR, EventBridge, Logs, Secrets Manager, DynamoDB
    "ServiceUnavailableException",  # 503 of the JSON services
    "InternalServerError",  # DynamoDB, ECR 500
    "ServiceException",  # Lambda 500
    "ServerException",  # ECR 500
    "InternalServiceError",  # 500 of some JSON services
    "ProvisionedThroughputExceededException",  # DynamoDB 400 (the ledger, the tables, the comparison scan)
    "SlowDown",  # S3 503 (the state bucket)
    "RequestTimeout",  # S3 400: the upload was too slow, send it again
    "500", "502", "503", "504",  # S3 HEAD (HeadBucket, HeadObject): no body, the code is the HTTP status
]
NOT_FOUND = "ResourceNotFoundException"


class InputError(Exception):
    """Input a module cannot apply; raised before any mutating call, its message says what to do."""


# The tries per call, counted apart for each kind of failure (a call gives up when one kind has failed that many
# times; the counts add up, they never multiply): a code of RETRY_ERROR_CODES or of AWSRetry's defaults
# ("shared"), a code the module passes ("own"), a connection closed or timed out before an answer ("connection":
# botocore retries it itself, then raises a BotoCoreError that no ClientError code names).
TRIES = 10
CONNECTION_TRIES = 5
# The inventories give every module botocore's own retries (cutover_aws: aws_config retries, standard mode,
# max_attempts 10: 11 attempts per call, throttling codes, 500/502/503/504 and dropped connections). Behind a
# client that retries at least SDK_ATTEMPTS_ENOUGH times itself, each try here is already a burst of attempts, so
# the shared codes get TRIES_BEHIND_SDK tries (the fallback for botocore's retry quota running out) and a
# dropped connection 2; the module's own codes, which botocore does not retry, keep TRIES (README "Reliability",
# "Retries", for the measured give-up times).
SDK_ATTEMPTS_ENOUGH = 5
TRIES_BEHIND_SDK = {"shared": 3, "own": TRIES, "connection": 2}
TRIES_ALONE = {"shared": TRIES, "own": TRIES, "connection": CONNECTION_TRIES}
MAX_DELAY_S = 20


def _connection_errors():
    return (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


def sdk_attempts(call) -> int:
    """How many attempts botocore makes per call of the client `call` belongs to (3 when it cannot tell)."""
    config = getattr(getattr(getattr(call, "__self__", None), "meta", None), "config", None)
    retries = getattr(config, "retries", None) or {}
    if retries.get("total_max_attempts"):
        return int(retries["total_max_attempts"])
    return int(retries["max_attempts"]) + 1 if retries.get("max_attempts") is not None else 3


def failure_kind(exc: BaseException, own_codes=()) -> str | None:
    """"shared", "own" or "connection" for a failure worth another try, None for any other."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code")
        if code in own_codes:
            return "own"
        return "shared" if AWSRetry.found(code, RETRY_ERROR_CODES) else None
    return "connection" if isinstance(exc, _connection_errors()) else None


def retry_decorator(extra_codes: list[str] | None = None):
    """The retry policy every custom module uses; pass extra codes per service.

    One loop around the call: a failure of a kind ``failure_kind`` names is tried again after a jittered
    backoff (uniform up to 1, 2, 4 ... ``MAX_DELAY_S`` seconds, by the call's failures so far) until that kind
    has failed its number of tries (``TRIES_ALONE``; behind a client that retries itself at least
    ``SDK_ATTEMPTS_ENOUGH`` times, the inventories' aws_config, ``TRIES_BEHIND_SDK``). The kinds count apart:
    a call that fails with several kinds gives up after at most the sum of their tries, never their product."""
    own = tuple(extra_codes or ())

    def decorator(call):
        tries = TRIES_BEHIND_SDK if sdk_attempts(call) >= SDK_ATTEMPTS_ENOUGH else TRIES_ALONE

        @functools.wraps(call)
        def retried(*args, **kwargs):
            failed = dict.fromkeys(tries, 0)
            while True:
                try:
                    return call(*args, **kwargs)
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    kind = failure_kind(exc, own)
                    if kind is None:
                        raise
                    failed[kind] += 1
                    if failed[kind] >= tries[kind]:
                        raise
                    time.sleep(random.uniform(0, min(MAX_DELAY_S, 2 ** (sum(failed.values()) - 1))))

        return retried

    return decorator


def wait_through_faults(wait, tries: int = 4):
    """``wait()`` (a botocore waiter's ``wait(...)``, bound with functools.partial or a lambda), again when a poll
    failed on a transient answer: a waiter fails at once on an error its acceptors do not name (a 503 on
    HeadBucket once botocore's own attempts gave up), which is no answer about the resource."""
    for attempt in range(tries):
        try:
            return wait()
        except botocore.exceptions.WaiterError as exc:
            code = str((exc.last_response or {}).get("Error", {}).get("Code", ""))
            if attempt == tries - 1 or not AWSRetry.found(code, RETRY_ERROR_CODES):
                raise
            time.sleep(random.uniform(0, min(20, 2 ** attempt)))
    return None  # not reached


def get_or_none(call, *, missing=NOT_FOUND, **kwargs):
    """``call(**kwargs)`` with retries, or None when AWS answers one of the ``missing`` codes."""
    try:
        return call(aws_retry=True, **kwargs)
    except is_boto3_error_code(missing):
        return None


def scan_items(client, table, *, segments=1, attributes=None, consistent=False, page=None):
    """Every item of ``table`` (DynamoDB JSON, as the API returns it), read by a parallel scan of ``segments``.

    A hand loop, not the scan paginator: each page is retried on its own (``aws_retry`` per call, the client's
    retry decorator), so a throttled page of a large table never makes the whole segment be read again.
    ``attributes``: read only these (placeholders: ``name`` is a DynamoDB reserved word); ``page``: items a
    call (short calls while another scan runs too); ``consistent``: ConsistentRead.
    """
    base = {"TableName": table, "ConsistentRead": consistent}
    if attributes:
        base["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
        base["ExpressionAttributeNames"] = {f"#a{i}": name for i, name in enumerate(attributes)}
    if page:
        base["Limit"] = page

    def segment(number):
        kwargs = dict(base, Segment=number, TotalSegments=segments) if segments > 1 else dict(base)
        items = []
        while True:
            answer = client.scan(aws_retry=True, **kwargs)
            items.extend(answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    if segments == 1:
        return segment(0)
    with ThreadPoolExecutor(max_workers=segments) as pool:
        return [item for part in pool.map(segment, range(segments)) for item in part]


def finish(module, ensure, failed_call: str, refusals=(), context=None):
    """Run ``ensure()`` and exit the module with its result; the one error path of every module.

    ``refusals`` are a module's own exception types whose message, like InputError's, says what is wrong and
    what to do (they fail the module with that message alone). ``context``: keys returned also on failure
    (what the module had established before it failed)."""
    context = dict(context or {})
    try:
        result = ensure()
    except (InputError,) + tuple(refusals) as exc:
        module.fail_json(msg=str(exc), **context)
    except botocore.exceptions.WaiterError as exc:
        module.fail_json_aws(exc, msg=f"{failed_call}: gave up waiting", **context)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=failed_call, **context)
    module.exit_json(**dict(context, **result))


def metric_query(qid, namespace, name, stat, period, dimensions=None):
    """One GetMetricData query of a metric (``ReturnData``), ``period`` seconds per point."""
    return {"Id": qid, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": list(dimensions or [])},
        "Period": period, "Stat": stat}}


def get_metric_data(client, queries, start, end, counter):
    """{id: [(timestamp, value), ...]} for every query, in as few calls as the API allows (500 per call);
    ``counter["GetMetricData"]`` counts the calls."""
    series = {q["Id"]: [] for q in queries}
    for index in range(0, len(queries), 500):
        kwargs = {"MetricDataQueries": queries[index:index + 500], "StartTime": start, "EndTime": end,
                  "ScanBy": "TimestampAscending"}
        while True:
            page = client.get_metric_data(aws_retry=True, **kwargs)
            counter["GetMetricData"] = counter.get("GetMetricData", 0) + 1
            for result in page.get("MetricDataResults", []):
                series[result["Id"]].extend(zip(result.get("Timestamps", []), result.get("Values", [])))
            token = page.get("NextToken")
            if not token or token == kwargs.get("NextToken"):
                break
            kwargs["NextToken"] = token
    return series
