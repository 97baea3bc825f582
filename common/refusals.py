"""Failures nobody raised on purpose (an OS error, S3's refusal, a library's error), as one line naming the thing and
the fix (no traceback): how a CLI verb prints its failure, and how a listener's warning words a digest it could not
take. Only :mod:`prov_common.errors` is imported up front, so the CLI stays fast to start.

``TDPROV_DEBUG=1`` prints the traceback as well, for a bug report (of a refusal a verb raised on purpose too).
"""
from __future__ import annotations

import errno
import os
import traceback

from prov_common.errors import BadInputError, TdprovError

_OS_FIXES = {
    errno.ENOENT: "check the path for a typo",
    errno.EACCES: "check the permissions (a store needs to be writable by the user running tdprov)",
    errno.EPERM: "check the permissions",
    errno.EROFS: "the file system is read-only: use a writable location",
    errno.ENOSPC: "free some disk space",
    errno.EDQUOT: "free some disk space or raise the disk quota",
    errno.EFBIG: "the file is larger than this user or file system may write (see 'ulimit -f'): write it where it may be that large",
    errno.EISDIR: "give a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "choose a path that does not exist yet",
}


def print_if_debugging(exc: BaseException) -> None:
    """Print ``exc``'s traceback to stderr when ``TDPROV_DEBUG`` is set (not empty, not ``0``)."""
    if os.environ.get("TDPROV_DEBUG", "").strip() not in ("", "0"):
        traceback.print_exception(exc)


def as_refusal(exc: BaseException) -> TdprovError:
    """``exc`` as the one-line refusal a verb's failure is printed as: a :class:`TdprovError` as it is, any other
    error :func:`as_bad_input`; with its traceback when ``TDPROV_DEBUG`` is set."""
    if isinstance(exc, TdprovError):
        print_if_debugging(exc)
        return exc
    return as_bad_input(exc)


def as_bad_input(exc: BaseException) -> BadInputError:
    """``exc`` (an OS, library or unexpected error) as a one-line :class:`BadInputError`."""
    print_if_debugging(exc)
    where = "".join(f" ({note})" for note in getattr(exc, "__notes__", ()))  # e.g. the shard being hashed
    if isinstance(exc, RecursionError):
        return BadInputError(f"the input{where} is nested too deeply to read.", fix="flatten it (at most a few hundred levels of arrays or objects)")
    if isinstance(exc, MemoryError):
        return BadInputError(f"the input{where} does not fit in memory.", fix="split it into smaller files")
    if isinstance(exc, OSError) and (exc.filename is not None or exc.errno in _OS_FIXES):
        where = f" {exc.filename}" if exc.filename is not None else " the output (stdout, or where it is redirected)"
        return BadInputError(f"cannot use{where}: {exc.strerror or exc}.", fix=_OS_FIXES.get(exc.errno or 0, "check the path and its permissions"))
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError", "NoRegionError", "ProfileNotFound"):
        return BadInputError(f"S3 cannot be reached: {exc}.",
                             fix="set AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and AWS_REGION")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError") or _is_client_error(exc):
        from prov_common.store.protection import request_grant
        from prov_common.store.s3 import refused_fix

        grant = request_grant(getattr(exc, "operation_name", "") or "GetObject")  # the permission of the request refused
        return BadInputError(f"S3 request failed: {exc}.",
                             fix=refused_fix(exc, grant) or "check the bucket name, AWS_ENDPOINT_URL_S3 and your credentials")
    message = " ".join(str(exc).split())[:300].rstrip(".")  # the sentence is ended once, below
    return BadInputError(f"unexpected {name}{where}: {message}.",
                         fix="check the arguments; if they are right, rerun with TDPROV_DEBUG=1 and report the traceback")


def _is_client_error(exc: BaseException) -> bool:
    """Whether ``exc`` is botocore's ``ClientError``, or one of the classes it makes of S3's error codes
    (``NoSuchKey``, ``AccessDenied``: an ``AccessDenied`` was told as an unexpected error to report)."""
    return any(cls.__name__ == "ClientError" and cls.__module__.startswith("botocore") for cls in type(exc).__mro__)
