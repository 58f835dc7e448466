"""Where an ARN (or an ECR image URI) points: its region and account, and the refusal message when
that is not where the run works. Pure: no boto3, no Ansible."""
from __future__ import annotations

import re

ARN_RE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
                    r"(?P<account>\d{12})?:(?P<resource>.+)$")
ACCOUNT_SUFFIX_RE = re.compile(r"-(\d{12})$")
DIGEST_RE = re.compile(r"@(sha256:[0-9a-f]{64})$")


def arn_parts(arn: str) -> dict | None:
    """The fields of an ARN (partition, service, region, account, resource), or None when it is no ARN."""
    match = ARN_RE.match(arn or "")
    return match.groupdict() if match else None


def placement_problem(what: str, value: str, subject: str, *, region: str | None = None, account: str | None = None,
                      found_region: str | None = None, found_account: str | None = None, fix: str = "") -> str | None:
    """A message when `value` (an ARN, or an image whose region/account were parsed by the caller) lies in
    another region or account than `subject` (the thing being configured); None when it fits.

    ``region``/``account``: where the subject is (None: not checked). ``found_region``/``found_account``
    default to the ARN's own fields."""
    parts = arn_parts(value) or {}
    have_region = found_region if found_region is not None else parts.get("region")
    have_account = found_account if found_account is not None else parts.get("account")
    fix = f": {fix}" if fix else ""
    if region and have_region and have_region != region:
        return f"{what} {value} is in region {have_region} but the {subject} is in region {region}{fix}"
    if account and have_account and have_account != account:
        return f"{what} {value} belongs to account {have_account} but the {subject} is in account {account}{fix}"
    return None


def bucket_account_problem(bucket: str, account_id: str) -> str | None:
    """A bucket named after an account (``...-<12 digits>``, as the state bucket is) must be this account's."""
    match = ACCOUNT_SUFFIX_RE.search(bucket or "")
    if match and match.group(1) != str(account_id):
        return (f"bucket {bucket} is named after account {match.group(1)} but account_id is {account_id}: "
                f"use the bucket of account {account_id} (cutover_state_bucket in the inventory)")
    return None


def function_digest(code, config):
    """The image digest a function (version) runs, from GetFunction's ``Code.ImageUri`` or ``CodeSha256``
    (never ``ResolvedImageUri``, malformed on the emulator)."""
    match = DIGEST_RE.search((code or {}).get("ImageUri", ""))
    if match:
        return match.group(1)
    sha = (config or {}).get("CodeSha256")
    return f"sha256:{sha}" if sha else None
