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
- ``retry_decorator(extra)`` adds only the codes that ``AWSRetry.jittered_backoff()`` misses; pass
  per service the codes that mean "try again" there (``ResourceConflictException`` for Lambda); it also
  retries a dropped or timed-out connection once botocore's own retries gave up (``CONNECTION_RETRIES``).
  Under it, botocore's own retries (``aws_config`` from ``cutover_aws``, standard mode, max_attempts 10) take
  the transient answers first; the layers here then shrink so that they do not multiply (``sdk_attempts``).
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


# A connection closed or timed out before an answer: botocore retries it itself (3 attempts by default), then
# raises a BotoCoreError that AWSRetry (ClientError codes only) does not retry, so a burst of dropped connections
# on one call failed the module. The call is tried again this many times more.
CONNECTION_RETRIES = 4
# The inventories give every module botocore's own retries (cutover_aws: aws_config retries, standard mode,
# max_attempts 10: 11 attempts per call, throttling codes, 500/502/503/504 and dropped connections). When the
# client retries that much itself, the outer layers here stay only as the fallback for what botocore does not
# retry (the module's own codes, 10 tries) and for its retry quota running out (OUTER_TRIES_BEHIND_SDK tries of
# the shared codes, one more try of a dropped connection), so that the two layers do not multiply their waits
# (a call throttled without end: README "Reliability", "Retries", for the measured give-up times).
SDK_ATTEMPTS_ENOUGH = 5
OUTER_TRIES_BEHIND_SDK = 3


def _connection_errors():
    return (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


def sdk_attempts(call) -> int:
    """How many attempts botocore makes per call of the client `call` belongs to (3 when it cannot tell)."""
    config = getattr(getattr(getattr(call, "__self__", None), "meta", None), "config", None)
    retries = getattr(config, "retries", None) or {}
    if retries.get("total_max_attempts"):
        return int(retries["total_max_attempts"])
    return int(retries["max_attempts"]) + 1 if retries.get("max_attempts") is not None else 3


class _OwnCodes(AWSRetry):
    """AWSRetry that retries only the codes it is given (not AWSRetry's default list)."""

    @staticmethod
    def found(response_code, catch_extra_error_codes=None):
        return response_code in (catch_extra_error_codes or ())


def retry_decorator(extra_codes: list[str] | None = None):
    """The retry policy every custom module uses; pass extra codes per service.

    AWSRetry's jittered backoff on the transient codes (``RETRY_ERROR_CODES``) and the module's own
    ``extra_codes`` (10 tries), and around it the retry of a dropped or timed-out connection
    (``CONNECTION_RETRIES``, jittered backoff up to 20 s). Behind a client that retries itself at least
    ``SDK_ATTEMPTS_ENOUGH`` times (the inventories' aws_config), the shared codes get
    ``OUTER_TRIES_BEHIND_SDK`` tries and a dropped connection one more try; the module's own codes keep 10."""
    extra = list(extra_codes or [])

    def decorator(call):
        behind_sdk = sdk_attempts(call) >= SDK_ATTEMPTS_ENOUGH
        if behind_sdk:
            retried = AWSRetry.jittered_backoff(retries=OUTER_TRIES_BEHIND_SDK, delay=1, max_delay=20,
                                                catch_extra_error_codes=RETRY_ERROR_CODES)(
                _OwnCodes.jittered_backoff(retries=10, delay=1, max_delay=20, catch_extra_error_codes=extra)(call)
                if extra else call)
        else:
            retried = AWSRetry.jittered_backoff(retries=10, delay=1, max_delay=20,
                                                catch_extra_error_codes=RETRY_ERROR_CODES + extra)(call)
        connection_retries = 1 if behind_sdk else CONNECTION_RETRIES

        @functools.wraps(call)
        def with_connection_retries(*args, **kwargs):
            for attempt in range(connection_retries + 1):
                try:
                    return retried(*args, **kwargs)
                except _connection_errors():
                    if attempt == connection_retries:
                        raise
                    time.sleep(random.uniform(0, min(20, 2 ** attempt)))
            return None  # not reached

        return with_connection_retries

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
