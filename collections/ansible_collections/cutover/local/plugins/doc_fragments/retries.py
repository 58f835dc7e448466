# -*- coding: utf-8 -*-
"""The retry policy every module of cutover.local shares: `- cutover.local.retries` in its
extends_documentation_fragment (module_utils/cutover/aws.py retry_decorator; README "Reliability")."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
notes:
  - Retries each AWS call (C(retry_decorator) of module_utils/cutover/aws.py, jittered backoff) on the transient
    answers C(Throttling), C(ThrottlingException), C(TooManyRequestsException),
    C(ProvisionedThroughputExceededException), C(RequestLimitExceeded), C(SlowDown), C(InternalFailure),
    C(InternalError), C(InternalServerError), C(InternalServiceError), C(ServiceException), C(ServerException),
    C(ServiceUnavailable), C(ServiceUnavailableException), C(Unavailable), C(RequestTimeout), the bare HTTP codes
    C(500), C(502), C(503) and C(504) of HEAD answers, and a dropped or timed-out connection.
  - Each kind of failure (a shared code, one of the module's own codes, a dropped connection) has its own number
    of tries in one loop, so a call failing with several kinds gives up after the sum of their tries.
  - Under that layer botocore retries by itself as the inventories set it (O(aws_config) from C(cutover_aws),
    standard mode, 10 retries); the shared codes and a dropped connection then get fewer tries (3 and 2) so that
    the two do not multiply their waits.
"""
