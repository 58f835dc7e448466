"""Issue 13 item 1: every module names the codes it retries, and together with amazon.aws's defaults they
cover every transient answer the services give (the fault proxy's per-service mix)."""
from __future__ import annotations

import random
import re

import pytest
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from module_utils.cutover.aws import RETRY_ERROR_CODES
from rehearsal.proxy import QUERY_NAMESPACES, _service_error
from tests.module_runner import PROJECT_DIR, library_modules

SERVICES = ("lambda", "ecr", "events", "logs", "secretsmanager", "ssm", "dynamodb", "s3", "sts", *QUERY_NAMESPACES)


def injected_codes() -> set[tuple[str, str]]:
    rng = random.Random(0)
    return {(service, _service_error(service, kind, rng)[1])
            for service in SERVICES for kind in ("throttle", "500", "503") for _ in range(8)}


def test_the_proxy_mix_has_the_codes_the_services_really_answer():
    codes = {code for _, code in injected_codes()}
    assert {"TooManyRequestsException", "ThrottlingException", "Throttling", "ProvisionedThroughputExceededException",
            "SlowDown", "ServiceException", "InternalServerError", "InternalError", "ServiceUnavailable"} <= codes


@pytest.mark.parametrize("service, code", sorted(injected_codes()))
def test_every_transient_code_is_retried(service, code):
    assert AWSRetry.found(code, RETRY_ERROR_CODES), f"{service} answers {code} and no module would retry it"


@pytest.mark.parametrize("name", library_modules())
def test_every_client_of_every_module_retries(name):
    """Each module.client(...) gets the shared retry policy (RETRY_ERROR_CODES + the module's own codes)."""
    source = (PROJECT_DIR / "library" / f"{name}.py").read_text()
    clients = re.findall(r"module\.client\(([^)]*)\)", source)
    for args in clients:
        assert "retry_decorator=" in args, f"{name}: module.client({args}) has no retry_decorator"
    if clients:
        assert "retry_decorator(" in source or "RETRY" in source


# What AWSRetry.jittered_backoff() retries by itself (besides RETRY_ERROR_CODES and a module's own codes).
AWSRETRY_DEFAULTS = ("RequestLimitExceeded", "Unavailable", "ServiceUnavailable", "InternalFailure", "InternalError",
                     "TooManyRequestsException", "Throttling")


def test_awsretry_defaults_are_what_it_retries():
    assert all(AWSRetry.found(code) for code in AWSRETRY_DEFAULTS)
    assert not AWSRetry.found("ThrottlingException")


FRAGMENT = PROJECT_DIR / "collections" / "ansible_collections" / "cutover" / "local" / "plugins" / "doc_fragments" / "retries.py"


def _doc(source: str) -> dict:
    import yaml

    return yaml.safe_load(source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])


def test_the_retries_fragment_names_every_shared_code():
    notes = " ".join(_doc(FRAGMENT.read_text())["notes"])
    missing = [code for code in (*AWSRETRY_DEFAULTS, *RETRY_ERROR_CODES) if f"C({code})" not in notes]
    assert missing == [], f"doc_fragments/retries.py does not name {missing}"
    assert "dropped or timed-out connection" in notes and "aws_config" in notes


@pytest.mark.parametrize("name", library_modules())
def test_every_module_names_the_codes_it_retries(name):
    """Its documentation names every code its retry policy retries: the shared ones (the cutover.local.retries
    fragment, rendered into its notes by ansible-doc) and its own (its notes)."""
    source = (PROJECT_DIR / "library" / f"{name}.py").read_text()
    doc = _doc(source)
    assert "cutover.local.retries" in doc["extends_documentation_fragment"], f"{name}: no cutover.local.retries"
    notes = " ".join(doc.get("notes", []))
    own = [code for args in re.findall(r"retry_decorator\(\[([^\]]*)\]\)", source)
           for code in re.findall(r'"(\w+)"', args)]
    missing = [code for code in own if f"C({code})" not in notes]
    assert missing == [], f"{name}: its notes do not name its own codes {missing}"


def _status(service: str, code: str) -> int:
    rng = random.Random(0)
    return next(status for kind in ("throttle", "500", "503") for _ in range(8)
                for status, answered, _ in [_service_error(service, kind, rng)] if answered == code)


@pytest.mark.parametrize("service, code", sorted(injected_codes()) + [("s3", "500"), ("s3", "503"), ("any", "drop")])
def test_botocore_standard_mode_retries_every_answer_of_the_mix(service, code):
    """What the inventories' aws_config (standard mode) leaves to botocore: every transient answer of the proxy's
    mix, with the HTTP status it comes with (S3 HEAD answers: no body, the code is the status), and a drop."""
    import botocore.exceptions
    from botocore.retries.standard import (RetryContext, ThrottledRetryableChecker, ThrottlingStatusCodeChecker,
                                           TransientRetryableChecker)

    if code == "drop":
        context = RetryContext(1, caught_exception=botocore.exceptions.ConnectionClosedError(endpoint_url="x"))
    else:
        status = int(code) if code.isdigit() else _status(service, code)
        context = RetryContext(1, parsed_response={"Error": {"Code": code}},
                               http_response=type("Response", (), {"status_code": status})())
    checkers = (TransientRetryableChecker(), ThrottledRetryableChecker(), ThrottlingStatusCodeChecker())
    assert any(checker.is_retryable(context) for checker in checkers), f"botocore would not retry {service} {code}"
