"""The migration's state bucket (S3): read an object with its ETag, write it only if nobody else did.

Not part of the pure core (it calls S3 through a boto3 client given by the caller). Keys start with
``<account>/<region>/`` so that two environments or regions never read each other's state, e.g.
``comparison/123456789012/ap-northeast-2/snapshots/sms.json``. Every write is conditional on what
was read: ``IfMatch=<etag read>`` when the object existed, ``IfNoneMatch=*`` when it did not. A
controller that lost the race gets :class:`StateConflict` naming the key and what to do, never a
silent overwrite (S3 answers ``PreconditionFailed``; ``ConditionalRequestConflict`` when two
writes of a missing key race).
"""
from __future__ import annotations

BOOTSTRAP = "run playbooks/bootstrap.yml first (it creates the ledger table and the state bucket)"
CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


class StateError(Exception):
    """The bucket is missing, belongs to another account, or cannot be read."""


class StateConflict(StateError):
    """Someone else wrote the object since this run read it."""


def _code(exc) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _client_error(exc) -> bool:
    return hasattr(exc, "response") and isinstance(getattr(exc, "response"), dict)


class StateStore:
    """``get(key) -> (text | None, etag | None)`` and ``put(key, text, etag)``, conditional."""

    def __init__(self, s3, bucket: str, account_id: str, region: str, retry: bool = True):
        self.s3, self.bucket, self.account, self.region = s3, bucket, str(account_id), region
        self._retry = {"aws_retry": True} if retry else {}

    def key(self, area: str, *parts: str) -> str:
        return "/".join((area, self.account, self.region) + parts)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def require(self) -> None:
        """The bucket exists and belongs to this account (S3 checks ExpectedBucketOwner)."""
        try:
            self.s3.head_bucket(Bucket=self.bucket, ExpectedBucketOwner=self.account, **self._retry)
        except Exception as exc:  # botocore ClientError; this helper does not import botocore
            if not _client_error(exc):
                raise
            code = _code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StateError(f"state bucket {self.bucket} does not exist: {BOOTSTRAP}") from None
            if code in ("403", "AccessDenied", "Forbidden"):
                raise StateError(f"state bucket {self.bucket} is not this account's ({self.account}) or not "
                                 "readable with these credentials: check cutover_state_bucket in the inventory "
                                 f"(naver-sms-cutover-state-{self.account}) and {BOOTSTRAP}") from None
            raise

    def get(self, key: str):
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=key, ExpectedBucketOwner=self.account, **self._retry)
        except Exception as exc:
            if _client_error(exc) and _code(exc) in ("NoSuchKey", "404"):
                return None, None
            raise
        return answer["Body"].read().decode("utf-8"), answer["ETag"]

    def put(self, key: str, text: str, etag: str | None, content_type: str = "application/json") -> str:
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            answer = self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode("utf-8"),
                                        ContentType=content_type, ExpectedBucketOwner=self.account,
                                        **condition, **self._retry)
        except Exception as exc:
            if _client_error(exc) and _code(exc) in CONFLICT_CODES:
                seen = f"version {etag} it read" if etag else "no object (it did not exist)"
                raise StateConflict(
                    f"{self.url(key)} was changed by another controller since this run read it (this run saw "
                    f"{seen}); nothing was overwritten. Another run of the migration is (or was) working on the "
                    "same state: check the ledger (playbooks/status.yml), then run again to start from the new "
                    "state") from None
            raise
        return answer.get("ETag")


PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": True}


def _read_or_none(call, missing_codes, **kwargs):
    try:
        return call(**kwargs)
    except Exception as exc:
        if _client_error(exc) and _code(exc) in missing_codes:
            return None
        raise


def ensure_bucket(s3, bucket: str, account_id: str, region: str, check_mode: bool) -> dict:
    """The state bucket: exists in this account, versioned, encrypted by default, no public access.

    Returns ``{"changed", "changes", "before", "after"}``; check mode calls only reads.
    """
    owner = {"ExpectedBucketOwner": str(account_id)}
    store = StateStore(s3, bucket, account_id, region)
    try:
        store.require()
        exists = True
    except StateError as exc:
        if "does not exist" not in str(exc):
            raise
        exists = False
    before = {"exists": exists, "versioning": False, "encryption": False, "public_access_blocked": False}
    if exists:
        versioning = s3.get_bucket_versioning(Bucket=bucket, aws_retry=True, **owner)
        before["versioning"] = versioning.get("Status") == "Enabled"
        encryption = _read_or_none(s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",),
                                   Bucket=bucket, aws_retry=True, **owner)
        before["encryption"] = bool(encryption and encryption["ServerSideEncryptionConfiguration"].get("Rules"))
        block = _read_or_none(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",),
                              Bucket=bucket, aws_retry=True, **owner)
        before["public_access_blocked"] = bool(block) and all(
            block["PublicAccessBlockConfiguration"].get(k) for k in PUBLIC_ACCESS_BLOCK)
    changes = [name for name, ok in before.items() if not ok]
    if changes and not check_mode:
        if not exists:
            config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=bucket, aws_retry=True, **config)
            from .aws import wait_through_faults  # botocore only where a bucket is created

            wait_through_faults(lambda: s3.get_waiter("bucket_exists").wait(Bucket=bucket))
        if not before["versioning"]:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}, aws_retry=True,
                                     **owner)
        if not before["encryption"]:
            s3.put_bucket_encryption(Bucket=bucket, aws_retry=True, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}, **owner)
        if not before["public_access_blocked"]:
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK,
                                       aws_retry=True, **owner)
    return {"changed": bool(changes), "changes": changes, "before": before, "after": dict.fromkeys(before, True)}
