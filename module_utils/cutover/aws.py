"""Small AWS helpers shared by the custom modules (not part of the pure core).

The pure core (compare, schedule, gate) must never import this file.
"""
from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# jittered_backoff() does not retry these by default (see DESIGN.md, "Retries").
RETRY_ERROR_CODES = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalFailure",
    "InternalServiceError",
    "ServerException",
]


class InputError(Exception):
    """Input a module cannot apply; raised before any mutating call, its message says what to do."""


def retry_decorator(extra_codes: list[str] | None = None):
    """The retry policy every custom module uses; pass extra codes per service."""
    return AWSRetry.jittered_backoff(
        retries=10, delay=1, max_delay=20,
        catch_extra_error_codes=RETRY_ERROR_CODES + list(extra_codes or []),
    )
