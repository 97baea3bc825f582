"""``REF@DIGEST``: one version of a dataset named on a command line (no I/O).

``REF`` is any dataset reference (a path, URI, name, ``namespace/name`` or another name the events give it, such
as a Dagster asset key) and ``DIGEST`` a content digest, in full or its first
:data:`~prov_common.w3cprov.identity.DIGEST_PREFIX_MIN` or more hex digits, in either case, with or without
``blake3:``: that dataset's version at that digest. It is how ``tdprov runs`` prints each output
(:func:`pasted`), so the text it prints names that version when pasted. A ``@`` is split off only where it is the
last one and a digest follows it: ``abfss://container@account.dfs.core.windows.net/x`` and ``user@host:/data`` are
references as a whole.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from prov_common.errors import BadInputError
from prov_common.text import first_of, pasteable
from prov_common.w3cprov.identity import DIGEST_PREFIX_MIN, digest_query, distinct_labels, pair_text

SHOWN_VERSIONS = 5
"""Versions an error names as text to paste; the rest are counted."""


def split_version(ref: str) -> tuple[str, str | None]:
    """``(REF, digest query)`` of ``REF@DIGEST`` (the query as :func:`~prov_common.w3cprov.identity.digest_query`
    gives it: lower case), else ``(ref, None)``: no ``@``, nothing before the last one, or no digest after it."""
    base, at, tail = ref.rpartition("@")
    query = digest_query(tail) if at and base.strip() else None
    return (base, query) if query is not None else (ref, None)


def short_digest(version: str) -> str:
    """A content digest as ``tdprov runs`` prints it: ``algo:`` and its first :data:`DIGEST_PREFIX_MIN` hex digits."""
    return _prefix(version, DIGEST_PREFIX_MIN)


def pasted(label: str, version: str) -> str:
    """The ``REF@DIGEST`` text naming the version ``version`` of the dataset shown as ``label`` (its path or URI)."""
    return f"{label}@{short_digest(version)}"


def distinct_short_digests(versions: Sequence[str]) -> list[str]:
    """:func:`short_digest` of each of ``versions``, each lengthened until no other of them begins the same way: two
    digests that share their first :data:`DIGEST_PREFIX_MIN` hex digits are shown by as many more as tell them apart."""
    width = DIGEST_PREFIX_MIN
    unique = set(versions)
    while len({_prefix(v, width) for v in unique}) < len(unique) and any(len(v) > len(_prefix(v, width)) for v in unique):
        width += 1
    return [_prefix(v, width) for v in versions]


def _prefix(version: str, width: int) -> str:
    algo, sep, hexdigits = version.partition(":")
    return f"{algo}:{hexdigits[:width]}" if sep else version[:width]


def quoted_list(texts: Sequence[str], shown: int) -> str:
    """``texts`` (each a text to paste: a dataset's label, ``REF@DIGEST``) quoted as a shell takes them
    (:func:`~prov_common.text.pasteable`), at most ``shown`` of them, the rest counted."""
    return first_of([pasteable(t) for t in texts], shown)


def no_version_at(ref: str, query: str, labels: Sequence[str], versions: Sequence[tuple[str, str]]) -> BadInputError:
    """The error for ``ref@query`` where the datasets ``ref`` names (shown as ``labels``) have no version the digest
    ``query`` means; ``versions``: their recorded versions as (label, digest), newest first."""
    texts = list(dict.fromkeys(pasted(label, version) for label, version in versions))
    which = f"dataset {labels[0]!r}" if len(labels) == 1 else f"none of the {len(labels)} datasets {ref!r} names ({quoted_list(labels, 3)})"
    has = "has no recorded version" if len(labels) == 1 else "has a recorded version"
    return BadInputError(
        f"{which} {has} at {query!r}; its recorded versions, newest first: {quoted_list(texts, SHOWN_VERSIONS)}.",
        fix=f"paste one of those, or give {pasteable(ref)} alone for its newest version "
            f"('tdprov lineage {ref} --all-versions' shows every version)",
    )


def read_as_digest(ref: str, digests: Collection[str], datasets: Callable[[], Sequence[tuple[str | None, str]]]) -> bool:
    """Whether ``ref``, a digest or its start (:func:`~prov_common.w3cprov.identity.digest_query` gives it), is read as a
    digest, the one rule of every verb that takes a :data:`~prov_common.w3cprov.identity.VERSION_ARGUMENT`: with
    ``algo:``, always; hex digits alone, where they begin the recorded ``digests`` (versions' and registered sources')
    and name none of the ``datasets`` (``(namespace, name)``, by any of their names, with or without a version: asked
    only then), else a name. Hex digits alone that do both are refused (:func:`name_and_digest`): a dataset may be
    named so."""
    if ":" in ref:
        return True
    if not digests:
        return False
    if named := datasets():
        raise name_and_digest(ref, named, digests)
    return True


def name_and_digest(ref: str, datasets: Sequence[tuple[str | None, str]], digests: Collection[str]) -> BadInputError:
    """The refusal of ``ref``, hex digits alone (no ``algo:``), that names the ``datasets`` (``(namespace, name)``)
    and begins the recorded ``digests`` too (a version's, a registered source's): which is meant is the user's to say,
    by each one's text to paste (a dataset's ``NAMESPACE::NAME``, spelled apart where two look alike as a listing shows
    them, :func:`~prov_common.w3cprov.identity.distinct_labels`; a digest in full)."""
    names = sorted(distinct_labels(datasets, pair_text).values())
    whole = sorted(set(digests))
    return BadInputError(f"{ref!r} is both a dataset's name and the start of a recorded digest: paste "
                         f"{quoted_list(names, SHOWN_VERSIONS)} for the dataset{'s' if len(names) > 1 else ''}, "
                         f"{quoted_list(whole, SHOWN_VERSIONS)} for the digest{'s' if len(whole) > 1 else ''}.",
                         fix="give the text of the one meant (a dataset as NAMESPACE::NAME, a digest with its 'blake3:')")
