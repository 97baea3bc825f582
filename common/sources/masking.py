"""Which failure-sample columns the registered sources of a dataset ask to hide.

A step that validates a dataset finds its source records in the store it records to: a record
applies when it is the source the step names (by name or digest), when its digest is the dataset's
content digest (the registered data itself), or when its location is the dataset's location.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.lineage.naming import dataset_from_uri
from prov_common.sources.model import ALL_COLUMNS, SourceRecord

if TYPE_CHECKING:
    from prov_common.quality import QualityResult
    from prov_common.sources.registry import Listing


@dataclass(frozen=True)
class SourceMasking:
    """Columns to hide (``("*",)``: every column), the sources they come from, and what went wrong."""

    columns: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    warning: str | None = None


def _place(uri: str | None) -> tuple[str, str] | None:
    if not uri:
        return None
    try:
        return dataset_from_uri(uri)
    except BadInputError:
        return None


def applies(record: SourceRecord, *, refs: Iterable[str] = (), digest: str | None = None, uri: str | None = None) -> bool:
    """Whether ``record`` is a source of the dataset at ``uri`` with content ``digest``, or is named in ``refs``."""
    if record.name in refs or record.digest in refs or (digest is not None and record.digest == digest):
        return True
    place = _place(uri)
    return place is not None and place == _place(record.location)


def masking_for(records: Iterable[SourceRecord], *, refs: Iterable[str] = (), digest: str | None = None,
                uri: str | None = None) -> SourceMasking:
    """The masking asked for by the records that apply to the dataset (no I/O)."""
    wanted = tuple(refs)
    found = [r for r in records if applies(r, refs=wanted, digest=digest, uri=uri) and r.masked_columns]
    columns = tuple(dict.fromkeys(c for r in found for c in r.masked_columns))
    return SourceMasking(columns, tuple(f"{r.name} {r.digest}" for r in found))


def source_masking(settings: Settings, *, refs: Iterable[str] = (), digest: str | None = None,
                   uri: str | None = None, store: Callable[[], Any] | None = None,
                   listing: Callable[[], Listing] | None = None) -> SourceMasking:
    """The masking that the store's verified source records ask for the dataset.

    ``listing`` gives the store's source records (e.g. those the step already read for the source it declares);
    by default they are read from the store that ``store`` opens (default: ``open_store(settings=settings)``).

    When the records cannot be read (store unreachable, no trust), every column is hidden and the
    warning says why: a sample is never written with values a record might have flagged.
    Records that do not verify are never used, and are named in the warning; when one of them is a record
    of a source in ``refs`` or of ``digest`` (by its key), every column is hidden too, since it may be the
    record that flags them.
    """
    from prov_common.sources.registry import settings_source_listing
    from prov_common.sources.unverified import records_of, unverified_warning

    def read() -> Listing:
        return settings_source_listing(settings, store() if store is not None else None)

    try:
        stored, problems = (listing or read)()
        records = [s.record for s in stored]
    except Exception as exc:  # noqa: BLE001 - reading records never breaks the pipeline; hide everything instead
        return SourceMasking((ALL_COLUMNS,), warning=f"source records in {settings.store} could not be read ({exc}); "
                                                     "every value of the failure sample is masked")
    refs = tuple(refs)
    masking = masking_for(records, refs=refs, digest=digest, uri=uri)
    wanted = (*refs, digest) if digest else refs
    own, others = records_of(problems, wanted)
    warning = unverified_warning(own, others, "every column is masked in failure samples")
    return SourceMasking((ALL_COLUMNS,) if own else masking.columns, masking.sources, warning)


def mask_by_sources(result: QualityResult, settings: Settings, *, refs: Iterable[str] = (), digest: str | None = None,
                    uri: str | None = None, warn: Callable[[str], None] | None = None,
                    store: Callable[[], Any] | None = None, listing: Callable[[], Listing] | None = None) -> QualityResult:
    """``result`` with the sample columns its dataset's source records flag shown as ``***``.

    The store is read only when there is a sample to store (``listing``, or the store ``store`` opens, as for
    :func:`source_masking`); ``warn`` receives what went wrong.
    """
    if not result.has_samples:
        return result
    masking = source_masking(settings, refs=refs, digest=digest, uri=uri, store=store, listing=listing)
    if masking.warning and warn is not None:
        warn(f"tdprov: {masking.warning}")
    return result.masked(masking.columns) if masking.columns else result
