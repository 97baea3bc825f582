"""The way out that every refusal to read a file as a table offers, the file's bytes, said as the verb at hand takes
them: 'tdprov hash --bytes' is an option of ``hash`` alone."""
from __future__ import annotations

from prov_common.errors import TdprovError

OR_HASH_BYTES = "or hash the file's bytes (tdprov hash --bytes)"


def for_verb(error: TdprovError, instead: str | None) -> TdprovError:
    """``error`` with its fix offering ``instead`` (words beginning after "or ") where it offers ``tdprov hash --bytes``,
    or no such alternative when ``instead`` is None (a verb that cannot take a file's bytes)."""
    head, found, tail = (error.fix or "").partition(OR_HASH_BYTES)
    if not found:
        return error
    head = head.rstrip(" ,;")
    return error.refixed(f"{head}, or {instead}{tail}" if instead else f"{head}{tail}")
