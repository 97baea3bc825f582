"""Errors that tdprov raises on purpose: each names the thing that is wrong and how to fix it."""
from __future__ import annotations

from typing import Self

from prov_common.text import cut_long_values

FIX_AT_MOST = 400  # characters of a value in a fix, which may be a command to copy


class TdprovError(Exception):
    """Base of every deliberate tdprov error.

    ``what`` says what is wrong (naming the object, column, field or file); ``fix`` says what to do.
    ``subject``: the key of the stored object the failure is in, set where an object is read to verify another
    (a checkpoint read for the leaf batch, catalog or state bound to it), so that the other is not blamed.
    """

    exit_code = 2
    subject: str | None = None

    def __init__(self, what: str, fix: str | None = None) -> None:
        self.what = what
        self.fix = fix
        super().__init__(_message(what, fix))

    def about(self, thing: str) -> Self:
        """This error, saying first that it is about ``thing`` (a file, a shard) unless it names it already."""
        if thing not in self.what:
            self.what = f"{thing!r}: {self.what}"
            self.args = (_message(self.what, self.fix),)
        return self

    def refixed(self, fix: str) -> Self:
        """This error with ``fix`` as its fix (a caller that knows what works where the raiser did not)."""
        self.fix = fix
        self.args = (_message(self.what, fix),)
        return self


def _message(what: str, fix: str | None) -> str:
    """An error's text: what is wrong, then its fix (when there is one); a long value echoed in it (beyond 200
    characters, in a fix beyond 400) is cut, its size named (:func:`cut_long_values`)."""
    what = cut_long_values(what)
    return what if not fix else with_fix(what, cut_long_values(fix, FIX_AT_MOST))


def cut_message(text: str) -> str:
    """``text`` (a line a verb prints on stderr: a refusal, a warning, a note) with its long values cut as an error's
    are: beyond 200 characters before its ``Fix:``, beyond 400 after it."""
    what, said_fix, fix = text.partition(" Fix: ")
    return cut_long_values(what) + said_fix + cut_long_values(fix, FIX_AT_MOST)


def with_fix(what: str, fix: str) -> str:
    """``what``, ended as a sentence (a full stop unless it ends with one, '?' or '!'), then ``Fix: fix``: a message
    that ended with a value ran on into its fix ('got int Fix: pass ...')."""
    what = what.rstrip()
    return f"{what}{'' if what.endswith(('.', '?', '!')) else '.'} Fix: {fix}"


class BadInputError(TdprovError, ValueError):
    """Input that tdprov cannot use: wrong type, malformed event, unsupported column, bad option."""


class UnsupportedTypeError(BadInputError, TypeError):
    """A value or column whose type cannot be hashed or recorded."""


class StoreError(TdprovError):
    """The store could not be read or written. ``store``: the URI of that store, where a caller using several stores
    names it (else None)."""

    store: str | None = None


class StoreUnavailableError(StoreError):
    """The store cannot be reached right now (network, permissions, outage); a retry may succeed."""


class ObjectConflictError(StoreError):
    """A write-once object already exists with other bytes."""


class VerificationError(TdprovError):
    """A signature, digest or record does not verify."""

    exit_code = 1
