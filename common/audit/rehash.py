"""Re-hash data where it lives now (local paths, S3) and compare with the newest recorded version.

A dataset is found by its name when that is a location (``file`` paths, ``s3://``), else by the
location in its ``symlinks`` facet (Dagster assets are named by asset key, their Parquet is a symlink)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prov_common.file_uri import local_namespace
from prov_common.audit.lineage import run_order
from prov_common.audit.model import CHECK_REHASH, CheckResult, DatasetUse, Finding, RunRecord
from prov_common.text import counted, first_of

FIX_CHANGED = (
    "the data at this location changed after the run that recorded it, without a new recorded run: find who wrote it; "
    "restore it from a snapshot ('tdprov checkout') or re-run the pipeline so the change is recorded"
)
FIX_GONE = "the data was moved or deleted; restore it, or record where it lives now"


def data_location(namespace: str, name: str) -> str | None:
    """The place data named ``namespace``/``name`` lives (local path or ``s3://`` URI), if the name is one; a
    file on another machine (``file://host``) is not here to read."""
    if namespace.startswith("s3://"):
        return namespace.rstrip("/") + "/" + name.lstrip("/")
    if namespace == "" or local_namespace(namespace) == "file":
        return name if name.startswith("/") else None
    return None


def symlinked_location(namespace: str, name: str, symlinks: dict[str, Any]) -> str | None:
    """Where a dataset named by something other than its location (a Dagster asset key) lives: the first
    identifier of its standard ``symlinks`` facet that is a location; None when its own name is one."""
    if data_location(namespace, name) is not None:
        return None
    for ident in symlinks.get("identifiers") or ():
        if isinstance(ident, dict) and isinstance(ident.get("namespace"), str) and isinstance(ident.get("name"), str):
            location = data_location(ident["namespace"], ident["name"])
            if location is not None:
                return location
    return None


def _location(d: DatasetUse) -> str | None:
    return d.location or data_location(d.namespace, d.name)


def _named(d: DatasetUse, location: str) -> str:
    return location if d.location is None else f"dataset {d.label} at {location}"


def newest_versions(records: Iterable[RunRecord]) -> dict[str, list[DatasetUse]]:
    """For each data location, the versions that the newest run wrote (or, if none wrote it, read): one, or each of
    those a run recorded there (it read a file, then read it again after it changed)."""
    written: dict[str, tuple[str, list[DatasetUse]]] = {}
    read: dict[str, tuple[str, list[DatasetUse]]] = {}
    for r in records:
        order = run_order(r)
        for table, side in ((written, r.outputs), (read, r.inputs)):
            for d in side:
                loc = _location(d)
                if not (loc and d.version) or (loc in table and table[loc][0] > order):
                    continue
                if loc not in table or table[loc][0] < order:
                    table[loc] = (order, [])
                table[loc][1].append(d)
    out = {loc: found for loc, (_, found) in read.items()}
    out.update({loc: found for loc, (_, found) in written.items()})
    return out


def default_hasher() -> Callable[[str], str]:
    """The digest datasets are recorded with, of a local path or an ``s3://`` object, or of a sharded
    dataset (a folder, prefix or glob) read whole: the shard-digest cache is not evidence."""
    from prov_common.hashing.targets import folder_target, hash_dataset

    return lambda location: hash_dataset(folder_target(location), cache=False).digest


NARROW_INTS = ("int8", "int16", "int32", "uint8", "uint16", "uint32")


def narrow_int_note(location: str) -> str:
    """A hint for a Parquet file with integer columns narrower than 64 bits: tdprov before integer widths
    hashed alike (docs/content-hash.md §2) recorded another digest for the same data. Empty otherwise."""
    from prov_common.hashing.files import open_binary, table_format

    if table_format(location) != "parquet":
        return ""
    try:
        import pyarrow.parquet as pq

        with open_binary(location) as f:
            schema = pq.read_schema(f)
    except Exception:  # noqa: BLE001 - only a hint: a file that cannot be read is reported as it is
        return ""
    narrow = [f"{field.name} ({field.type})" for field in schema if str(field.type) in NARROW_INTS]
    if not narrow:
        return ""
    return (f" (its integer columns {', '.join(narrow)} are narrower than 64 bits: if the version was recorded by "
            "tdprov before integer widths hashed alike, the data may be unchanged; re-run the step that wrote it "
            "to record the current digest, see docs/content-hash.md section 2)")


def version_at(d: DatasetUse) -> str | None:
    """``<location>@<version>``: how :func:`rehash` names a recorded version it found no longer at its location."""
    location = _location(d)
    return f"{location}@{d.version}" if location and d.version else None


def rehash(records: Iterable[RunRecord], hasher: Callable[[str], str] | None = None, progress: Callable[[], None] | None = None,
           changed: dict[str, str] | None = None) -> CheckResult:
    """Hash every recorded data location and compare with its newest recorded version. ``changed``: filled
    with what was found for each version no longer at its location (:func:`version_at` -> what)."""
    hasher = hasher or default_hasher()
    changed = {} if changed is None else changed
    result = CheckResult(CHECK_REHASH)
    records = list(records)
    elsewhere = sorted({d.label for r in records for d in (*r.inputs, *r.outputs) if d.version and _location(d) is None})
    if elsewhere:  # XCom values, in-memory data, files on another machine, tables: no place here to read them from
        shown = first_of(elsewhere, 5)
        result.detail = f"not re-hashed: {counted(len(elsewhere), 'dataset')} with no location this audit can read ({shown})"
    for location, newest in sorted(newest_versions(records).items()):
        result.checked += 1
        d = newest[0]
        try:
            digest = hasher(location)
        except Exception as exc:  # noqa: BLE001 - data that cannot be read is a finding, whatever the reason
            result.findings.append(Finding(CHECK_REHASH, location, f"{_named(d, location)} cannot be hashed: {exc}", FIX_GONE))
            changed.update({f"{location}@{n.version}": f"the data at {location} cannot be hashed now ({exc})" for n in newest})
            continue
        if digest not in {n.version for n in newest}:
            recorded = ("version is " if len(newest) == 1 else "versions (of one run) are ") + ", ".join(n.version or "" for n in newest)
            result.findings.append(
                Finding(CHECK_REHASH, location, f"{_named(d, location)} now hashes to {digest}; the newest recorded {recorded}"
                        f"{narrow_int_note(location)}", FIX_CHANGED)
            )
            changed.update({f"{location}@{n.version}": f"the data at {location} now hashes to {digest}, not to this version"
                            for n in newest})  # as version_at(n) names each
        if progress:
            progress()
    return result
