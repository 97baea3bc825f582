"""What protects an S3 store's bucket against deletion and overwrite: versioning and the Object Lock default retention.

Read with two requests (GetBucketVersioning, GetObjectLockConfiguration) by ``tdprov store init``, which prints them,
and by every audit, which holds them against what its auditor saw before (``prov_common.audit.protection``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from prov_common.errors import StoreError
from prov_common.text import camel_keys, counted

NO_LOCK_CODE = "ObjectLockConfigurationNotFoundError"  # the answer of a bucket without Object Lock
GRANTS = {"GetBucketVersioning": "s3:GetBucketVersioning", "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
          "PutBucketVersioning": "s3:PutBucketVersioning", "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
          "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
          "ListObjectsV2": "s3:ListBucket", "HeadBucket": "s3:ListBucket", "ListObjectVersions": "s3:ListBucketVersions"}
"""The permission each S3 request (botocore's ``operation_name``) needs (the IAM actions of the Object Lock requests are
named after the bucket setting; a HEAD needs what its GET needs)."""
_OF_OBJECT = {"GetObject", "HeadObject", "PutObject"}  # the requests granted on an object; the others on its bucket
_OF_VERSION = {"GetObject": "s3:GetObjectVersion", "HeadObject": "s3:GetObjectVersion"}  # of an object version (VersionId)
_ADMINS_ONLY = {"PutBucketVersioning", "PutObjectLockConfiguration"}  # of those, the ones the writer's and the auditor's templates in docs/iam/ deny
LOCK_MODES = ("compliance", "governance")  # strongest first: no one can shorten a compliance retention, root included
YEAR_DAYS = 365  # a retention of N years compared as N * 365 days (S3 counts a year as 365 days)


@dataclass(frozen=True)
class BucketProtection:
    """A bucket's versioning (``Enabled``, ``Suspended`` or ``off``: never enabled) and Object Lock: enabled or not, and
    its default retention, if any: mode (``compliance`` or ``governance``) and period, in days or years."""

    versioning: str = "off"
    object_lock: bool = False
    lock_mode: str | None = None
    retention_days: int | None = None
    retention_years: int | None = None

    @property
    def retention(self) -> int:
        """The default retention period in days (0: none)."""
        if not self.lock_mode:
            return 0
        return (self.retention_days or 0) or (self.retention_years or 0) * YEAR_DAYS

    def period(self) -> str:
        """The default retention period as set ('30 days', '10 years'), or 'none'."""
        if self.retention_days:
            return counted(self.retention_days, "day")
        return counted(self.retention_years, "year") if self.retention_years else "none"

    def mode(self) -> str:
        """The default retention mode, or 'none'."""
        return self.lock_mode if self.lock_mode and self.retention else "none"

    def lock(self) -> str:
        """The Object Lock in words: 'enabled, compliance mode, 30 days', 'enabled, no default retention' or 'off'."""
        if not self.object_lock:
            return "off"
        return f"enabled, {self.mode()} mode, {self.period()}" if self.retention else "enabled, no default retention"

    def to_dict(self) -> dict[str, Any]:
        """The settings in camelCase, as ``store init --json`` prints them and the auditor's memory keeps them."""
        return camel_keys(asdict(self))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "BucketProtection":
        def number(name: str) -> int | None:
            value = raw.get(name)
            return int(value) if value else None

        mode = raw.get("lockMode")
        return cls(str(raw.get("versioning") or "off"), bool(raw.get("objectLock")), str(mode).lower() if mode else None,
                   number("retentionDays"), number("retentionYears"))


def read_versioning(client: Any, bucket: str) -> str:
    """``bucket``'s versioning as it is now: ``Enabled``, ``Suspended`` or ``off`` (one request, GetBucketVersioning)."""
    return client.get_bucket_versioning(Bucket=bucket).get("Status") or "off"


def read_protection(client: Any, bucket: str, versioning: str | None = None) -> BucketProtection:
    """``bucket``'s protection as it is now (two requests; one when ``versioning``, as :func:`read_versioning` read it,
    is given). Any error but a bucket without Object Lock is raised as botocore raised it: the caller names the request
    (``exc.operation_name``) and what to grant (:data:`GRANTS`)."""
    from botocore.exceptions import ClientError

    if versioning is None:
        versioning = read_versioning(client, bucket)
    try:
        config = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != NO_LOCK_CODE:
            raise
        return BucketProtection(versioning)
    retention = config.get("Rule", {}).get("DefaultRetention", {})
    return BucketProtection(versioning, config.get("ObjectLockEnabled") == "Enabled", retention.get("Mode", "").lower() or None,
                            retention.get("Days") or None, retention.get("Years") or None)


def protection_refused(exc: Exception, bucket: str, *, versioning_read: bool = False) -> tuple[str, str]:
    """What a failed :func:`read_protection` of ``bucket`` (``exc``) leaves unknown, and the fix: the permission to
    grant for a refusal, else to check the endpoint. ``versioning_read``: the caller read the versioning and keeps it,
    so only the Object Lock settings are unknown."""
    from prov_common.store.s3 import s3_error_code

    request = getattr(exc, "operation_name", "") or "GetBucketVersioning"
    unread = f"the {'' if versioning_read else 'versioning and '}Object Lock settings of bucket '{bucket}' could not be read"
    if (refused := _refused(exc, bucket, request)) is not None:
        return f"{unread}: {refused[0]}", refused[1]
    return (f"{unread}: {request} was answered with {s3_error_code(exc) or type(exc).__name__}",
            f"check that the endpoint answers {request} (S3 does); {_grant(request, bucket)}")


def _grant(request: str, bucket: str) -> str:
    """The fix of S3's refusal of ``request`` (``GetBucketVersioning``...) about ``bucket``: the permission to grant
    (:data:`GRANTS`) and the templates in docs/iam/ that have it; a request the table does not name as
    :func:`request_grant` names it."""
    if request not in GRANTS:
        return _unlisted_grant(request)
    held = ("the admin's template in docs/iam/ has it" if request in _ADMINS_ONLY
            else "the auditor's and the admin's templates in docs/iam/ have it")
    return f"grant {GRANTS[request]} on arn:aws:s3:::{bucket} to these credentials ({held})"


def _unlisted_grant(request: str) -> str:
    """What to grant for S3's refusal of a ``request`` that :data:`GRANTS` does not name: that request itself, with
    where its permission is listed; no other request's permission stands in for it, nor a template said to hold it."""
    return (f"grant these credentials the permission S3 requires for {request} (the Service Authorization Reference "
            "for Amazon S3 names it)")


def request_grant(request: str, *, version: bool = False) -> str:
    """What to grant for S3's refusal of ``request`` (botocore's ``operation_name``: ``GetObject``, ``ListObjectsV2``...)
    of a dataset's object or bucket, in words: the permission (:data:`GRANTS`; ``version``: of one version of the object,
    which S3 grants apart) and what it is granted on. A read of an object adds ``s3:ListBucket``, without which S3
    refuses a missing object too. A request the table does not name is named itself, with where its permission is
    listed: no other request's permission stands in for it."""
    if request not in GRANTS:
        return _unlisted_grant(request)
    permission = (_OF_VERSION.get(request) if version else None) or GRANTS[request]
    if request not in _OF_OBJECT:
        return f"grant these credentials {permission} on the bucket"
    missing = " (and s3:ListBucket on its bucket: without it S3 refuses a missing object too)" if request != "PutObject" else ""
    return f"grant these credentials {permission} on the object{missing}"


def versioning_refused(exc: Exception, bucket: str, where: str) -> StoreError | None:
    """S3's refusal (``exc``) of a read or change of ``bucket``'s versioning, as the error naming the request refused,
    the permission to grant and the templates that have it (``where``: ``cannot ACTION 'bucket' in STORE``); None for
    any other error."""
    refused = _refused(exc, bucket, "GetBucketVersioning")
    return None if refused is None else StoreError(f"{where}: {refused[0]}.", fix=refused[1])


def lock_change_refused(exc: Exception, bucket: str) -> str | None:
    """S3's refusal (``exc``) of a change of ``bucket``'s Object Lock default retention (PutObjectLockConfiguration),
    as the problem naming the request refused, the permission to grant and the template that has it; None for any
    other error (a bucket created without Object Lock, say)."""
    refused = _refused(exc, bucket, "PutObjectLockConfiguration")
    return None if refused is None else f"could not set Object Lock on '{bucket}': {refused[0]}: {refused[1]}"


def _refused(exc: Exception, bucket: str, request: str) -> tuple[str, str] | None:
    """S3's refusal (``exc``) of a request about ``bucket`` (botocore's ``operation_name``, else ``request``) in words,
    '``REQUEST`` was refused with ``CODE``', and its fix (:func:`_grant`); None for any other error."""
    from prov_common.store.s3 import refused_fix, s3_error_code

    request = getattr(exc, "operation_name", "") or request
    fix = refused_fix(exc, _grant(request, bucket))
    return None if fix is None else (f"{request} was refused with {s3_error_code(exc)}", fix)


__all__ = ["BucketProtection", "GRANTS", "LOCK_MODES", "lock_change_refused", "protection_refused", "read_protection", "read_versioning",
           "request_grant", "versioning_refused"]
