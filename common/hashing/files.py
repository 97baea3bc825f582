"""Hashing files and URIs: tables (Parquet, CSV, JSON lines) get the table digest, anything else its bytes.

``s3://`` URIs are read through boto3 (:mod:`prov_common.hashing.remote`). Opening a URI is a seam:
``register_opener(scheme, fn)`` makes ``hash_path`` read ``<scheme>://...`` through ``fn(uri) -> binary file object``.
"""
from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from prov_common.errors import BadInputError
from prov_common.file_uri import home_hint, is_file_uri, short_uri
from prov_common.hashing.encode import NotUtf8Error
from prov_common.hashing.model import FileDigest, Granularity, TableDigest
from prov_common.hashing.parquet import RowGroupColumns, open_parquet
from prov_common.hashing.csv_header import check_header_names
from prov_common.hashing.csv_utf8 import csv_not_utf8
from prov_common.hashing.file_sha256 import sha256_stream
from prov_common.hashing.jsonl_events import JsonLineError
from prov_common.hashing.jsonl_stream import check_json_lines, check_json_numbers, hash_jsonl_stream
from prov_common.hashing.jsonl_strict import check_refused, reads_infinity
from prov_common.hashing.one_open import FileChangedError, Opened, Opener as PassOpener, opened_once
from prov_common.hashing.raw import hash_stream
from prov_common.hashing.remote import S3_SCHEMES, open_s3, s3_key, without_query
from prov_common.hashing.s3_pin import ObjectChangedError, PinnedS3Object
from prov_common.hashing.targets import local_target
from prov_common.hashing.table import BLOCK_ROWS, hash_dataframe, hash_table, hash_table_columns
from prov_common.regular_file import NotRegularFileError, open_regular
from prov_common.hashing.bytes_fix import OR_HASH_BYTES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

T = TypeVar("T")
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

Opener = Callable[[str], IO[bytes]]
_OPENERS: dict[str, Opener] = dict.fromkeys(S3_SCHEMES, open_s3)  # s3:// is read through boto3


def register_opener(scheme: str, opener: Opener) -> None:
    """Let ``hash_path`` open ``<scheme>://...`` URIs with ``opener(uri)`` (a binary file object)."""
    _OPENERS[scheme.lower()] = opener


def _split(path_or_uri: str | Path) -> tuple[str | None, str]:
    """``(scheme, target)``: ``(None, path)`` for a local path or a ``file:/`` URI (decoded as the naming decodes it),
    else the URI's scheme and the URI (``dbfs:/mnt/x.csv`` too; another ``scheme:/path`` is refused, as the naming
    refuses it: :func:`~prov_common.file_uri.short_uri`)."""
    text = str(path_or_uri)
    if isinstance(path_or_uri, Path):
        return None, text
    if is_file_uri(text):
        return None, local_target(text)
    if "://" in text:
        return text.split("://", 1)[0].lower(), text
    short = short_uri(text)
    return (None, text) if short is None else (short[0], text)


def open_binary(path_or_uri: str | Path) -> IO[bytes]:
    """Open a local path or a registered URI for reading bytes. A local path must be (or a symbolic link must lead to)
    a regular file: a named pipe, device or socket is refused, as it would block its reader forever (a pipe with no
    writer, ``/dev/zero``) or give no content of its own to hash (``/dev/null``)."""
    scheme, target = _split(path_or_uri)
    if scheme is not None:
        opener = _OPENERS.get(scheme)
        if opener is None:
            written = f"{scheme}://" if "://" in target else f"{scheme}:/"  # dbfs:/mnt/x.csv is no dbfs:// URI
            raise BadInputError(f"no reader for {written} URIs ({path_or_uri}).",
                                fix=f"register one with prov_common.hashing.register_opener({scheme!r}, fn), "
                                    "or copy the file locally.")
        return opener(target)
    try:
        return open_regular(target)
    except NotRegularFileError as exc:
        raise BadInputError(f"{target!r} is {exc.kind}, not a regular file, so it has no content to hash.",
                            fix="write the data to a regular file and name that file.") from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError, NotADirectoryError) as exc:
        raise BadInputError(f"cannot read {target!r}: {exc.strerror or exc}.",
                            fix=home_hint(target, "check the path and its permissions.")) from exc


def table_format(path_or_uri: str | Path) -> str | None:
    """``parquet``, ``csv`` or ``jsonl`` from the name's suffix, else None (hashed as bytes): a local path's and an
    S3 key's whole name (``q?a=1.parquet``), another URI's without its query."""
    text = str(path_or_uri)
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    name = s3_key(text) if scheme in S3_SCHEMES else without_query(text)
    return TABLE_SUFFIXES.get(Path(name).suffix.lower())


@contextmanager
def _reading(path_or_uri: str | Path, fmt: str, open_source: PassOpener | None = None) -> Iterator[None]:
    """Turn a reader's or the hash's refusal into a BadInputError naming the file and the fix (for a CSV file
    that is not UTF-8, read again through ``open_source``: where its first bad byte is)."""
    try:
        yield
    except NotUtf8Error as exc:
        raise exc.at(file=str(path_or_uri)) from None
    except BadInputError as exc:
        raise exc.about(str(path_or_uri))
    except RecursionError:
        raise BadInputError(f"cannot read {str(path_or_uri)!r} as {fmt}: it is nested too deeply.",
                            fix="flatten it (at most a few hundred levels of arrays or objects).") from None
    except JsonLineError as exc:
        raise BadInputError(f"cannot read {str(path_or_uri)!r} as {fmt}: {exc}", fix=exc.fix or _check_format(fmt)) from exc
    except _csv_no_header_error() as exc:  # only pandas.read_csv raises it: a CSV file with no header line
        raise _no_header(path_or_uri).about(str(path_or_uri)) from exc
    except (pa.ArrowException, ValueError, UnicodeDecodeError, OSError) as exc:  # pandas' ParserError is a ValueError
        if isinstance(exc, UnicodeDecodeError) and fmt == "csv" and open_source is not None:
            located = csv_not_utf8(str(path_or_uri), open_source)
            if located is not None:
                raise located from exc
        raise BadInputError(f"cannot read {str(path_or_uri)!r} as {fmt}: {_reason(exc)}", fix=_check_format(fmt)) from exc


def _reason(exc: BaseException) -> str:
    """Why a reader refused a file: pyarrow's text quoted as it said it (its own punctuation, such as the full stop of
    'JSON parse error: Invalid value. in row 1', stays inside the quotes), any other error's as it is."""
    if isinstance(exc, pa.ArrowException):
        return f'pyarrow says "{" ".join(str(exc).split())}"'
    return str(exc)


def _csv_no_header_error() -> type[Exception] | tuple[()]:
    """pandas' ``EmptyDataError``, which only ``pandas.read_csv`` raises; nothing to catch while pandas is not loaded
    (it cannot have been raised then), so that reading Parquet, JSON lines or bytes does not load pandas."""
    return getattr(sys.modules.get("pandas.errors"), "EmptyDataError", ())


def _check_format(fmt: str) -> str:
    return f"check that the file is valid {fmt}, {OR_HASH_BYTES}."


def _pinned_s3(path_or_uri: str | Path, etag: str | None, *, sha256: bool = False) -> PinnedS3Object | None:
    """The S3 object at ``path_or_uri`` pinned for one hashing (:mod:`prov_common.hashing.s3_pin`; ``sha256``:
    the SHA-256 of its bytes is wanted), when it is one read through tdprov's own S3 reader (not an opener
    registered in its place), else None."""
    scheme, target = _split(path_or_uri)
    if scheme in S3_SCHEMES and _OPENERS.get(scheme) is open_s3:
        return PinnedS3Object(target, etag, sha256=sha256)
    return None


@contextmanager
def _sources(path_or_uri: str | Path, opened: Opened | None = None) -> Iterator[PassOpener]:
    """What each pass of a table reader (or the one pass over a file's bytes) opens, for a file or URI not read
    through tdprov's S3 reader: a local file is opened once, and every pass (and the SHA-256 beside them) reads that
    one file, refused when written meanwhile (:mod:`prov_common.hashing.one_open`; ``opened`` is told its status as
    opened); another URI is opened again per pass."""
    scheme, target = _split(path_or_uri)
    if scheme is not None:
        yield lambda: open_binary(path_or_uri)
        return
    with open_binary(target) as f, opened_once(f, target, opened) as opener:
        yield opener


@contextmanager
def _passes(path_or_uri: str | Path, etag: str | None, file_sha256: bool, opened: Opened | None = None
            ) -> Iterator[tuple[PassOpener, Callable[[], str | None]]]:
    """What each pass of a table reader opens, and ``sha256()``: the SHA-256 of the bytes the passes read (None
    unless ``file_sha256``), to call once they are done. An S3 object is read by every pass at the ETag the first
    read found, or ``etag`` (:mod:`prov_common.hashing.s3_pin`), and its SHA-256 is taken as the first pass to
    reach its end reads it (:meth:`~prov_common.hashing.s3_pin.PinnedS3Object.sha256`: no GET of its own); anything
    else (:func:`_sources`) is read once more for it, in a thread beside the passes (:func:`_sha256_beside`)."""
    pinned = _pinned_s3(path_or_uri, etag, sha256=file_sha256)
    if pinned is not None:
        yield pinned.open, pinned.sha256 if file_sha256 else _no_sha256
        return
    with _sources(path_or_uri, opened) as open_source, _sha256_beside(open_source, file_sha256) as sha256:
        yield open_source, sha256


def _no_sha256() -> None:
    return None


def read_table_file(path_or_uri: str | Path, fmt: str, csv_dtypes: Mapping[str, Any] | None = None
                    ) -> pa.Table | pd.DataFrame:
    """Read a table file whole, the canonical way: Parquet/JSON lines via Arrow, CSV via pandas inference."""
    return read_table_and_sha256(path_or_uri, fmt, csv_dtypes, file_sha256=False)[0]


def read_table_and_sha256(path_or_uri: str | Path, fmt: str, csv_dtypes: Mapping[str, Any] | None = None, *,
                          file_sha256: bool = True) -> tuple[pa.Table | pd.DataFrame, str | None]:
    """:func:`read_table_file` and the SHA-256 of the file's bytes (None unless ``file_sha256``), both from one
    opening of it, as :func:`hash_path` gives them (:func:`_passes`)."""
    def read() -> tuple[pa.Table | pd.DataFrame, str | None]:
        with _passes(path_or_uri, None, file_sha256) as (open_source, sha256), \
                _reading(path_or_uri, fmt, open_source):
            table = _read_whole(path_or_uri, open_source, fmt, csv_dtypes)
            return table, sha256()

    return _again_if_changed(read)


CSV_DTYPES = "csv_dtypes"  # the argument a refused key is named by (a command line names its own option instead)


class UnknownCsvColumnError(BadInputError):
    """A ``csv_dtypes`` key that is not a column of the CSV file; the text names the argument ``csv_dtypes``."""

    def named(self, option: str) -> "UnknownCsvColumnError":
        """This refusal naming ``option`` (the command line's ``--csv-dtype``) instead of ``csv_dtypes``."""
        fix = None if self.fix is None else self.fix.replace(f"from {CSV_DTYPES}", f"from {option}", 1)
        return UnknownCsvColumnError(self.what.replace(f"{CSV_DTYPES} names ", f"{option} names ", 1), fix)


def _check_csv_dtypes(csv_dtypes: Mapping[str, Any] | None, header: Iterable[Any], path_or_uri: str | Path) -> None:
    """Refuse dtypes declared for columns the CSV's ``header`` lacks: ``pandas.read_csv`` ignores them, so a misspelt
    name would give the digest of the undeclared reading. ``*`` is such a name too (no wildcard)."""
    if not csv_dtypes:
        return
    from prov_common.quality.samples import check_known_columns  # here: the quality package imports Pandera

    try:
        check_known_columns([str(name) for name in csv_dtypes], header, CSV_DTYPES, str(path_or_uri), wildcard=False)
    except BadInputError as exc:
        raise UnknownCsvColumnError(exc.what, exc.fix) from None


def _check_csv_header(csv_dtypes: Mapping[str, Any] | None, header: Iterable[Any], open_source: PassOpener,
                      path_or_uri: str | Path) -> None:
    """The checks of a CSV's header as pandas read it: names it changed (:func:`check_header_names`), dtypes declared
    for columns it lacks."""
    check_header_names(header, open_source, path_or_uri)
    _check_csv_dtypes(csv_dtypes, header, path_or_uri)


def _read_whole(path_or_uri: str | Path, open_source: PassOpener, fmt: str, csv_dtypes: Mapping[str, Any] | None
                ) -> pa.Table | pd.DataFrame:
    with open_source() as source:
        if fmt == "parquet":
            return pq.read_table(source)
        if fmt == "jsonl":
            return _read_json_lines(source, open_source)
        import pandas as pd  # here: only CSV files are read by pandas

        data = pd.read_csv(source, dtype=csv_dtypes)
    _check_csv_header(csv_dtypes, data.columns, open_source, path_or_uri)
    return data


def _read_json_lines(source: IO[bytes], open_source: PassOpener) -> pa.Table:
    """``pyarrow.json.read_json``, but a 0-byte file (an empty partition) is the empty table, as a file of one
    newline is (``read_json`` refuses it: ``Empty JSON file``), and what the hash refuses (``NaN``, several
    objects on one line, a line that is no object: :func:`~prov_common.hashing.jsonl_stream.check_json_lines`) is
    refused, before Arrow parses the file; a number past the range of a double, once Arrow read it as infinity or
    refused it (:func:`~prov_common.hashing.jsonl_stream.check_json_numbers` names its line); any other line Arrow
    refuses as the incremental parser refuses it (:func:`~prov_common.hashing.jsonl_strict.check_refused`), as is an
    object over several lines, which Arrow reads."""
    with open_source() as again:
        lines = check_json_lines(again)
    try:
        table = pajson.read_json(source)
    except pa.ArrowInvalid:
        with open_source() as again:
            if not again.read(1):
                return pa.table({})
        with open_source() as again:
            check_json_numbers(again)  # 1e400: refused naming its line
        check_refused(open_source)  # Arrow's row counts from 0 within a block of lines
        raise
    if reads_infinity(table):  # an integer past the range of a double
        with open_source() as again:
            check_json_numbers(again)
    if table.num_rows < lines:  # an object over several lines, which the hash refuses
        check_refused(open_source)
    return table


def _no_header(path_or_uri: str | Path) -> BadInputError:
    """A CSV file that is empty or blank: ``pandas.read_csv`` reads no table from it (not even one of no rows)."""
    return BadInputError(f"{str(path_or_uri)!r} has no header line (it is empty or blank), so pandas.read_csv "
                         "reads no table from it.",
                         fix="write the header line into it (an empty partition), or leave the file out of the dataset.")


def _hash_streamed(path_or_uri: str | Path, open_source: PassOpener, fmt: str, csv_dtypes: Mapping[str, Any] | None,
                   **options: Any) -> TableDigest:
    """A CSV or JSON-lines file hashed chunk by chunk (bounded memory); read whole only when it cannot be."""
    with _reading(path_or_uri, fmt, open_source):
        if fmt == "csv":
            from prov_common.hashing.csv_stream import hash_csv_stream  # here: it loads pandas

            streamed = hash_csv_stream(open_source, csv_dtypes, granularity=options["granularity"],
                                       block_rows=options["block_rows"],
                                       check_header=lambda header: _check_csv_header(csv_dtypes, header, open_source, path_or_uri))
        else:
            streamed = hash_jsonl_stream(open_source, granularity=options["granularity"],
                                         block_rows=options["block_rows"])
        if streamed is not None:
            return streamed
        data = _read_whole(path_or_uri, open_source, fmt, csv_dtypes)
        if isinstance(data, pa.Table):
            return hash_table(data, **options)
        return hash_dataframe(data, **options)


def _hash_parquet(path_or_uri: str | Path, open_source: PassOpener, **options: Any) -> TableDigest:
    """A Parquet file hashed column by column, each column decoded a batch of ``block_rows`` rows at a
    time, so memory is about one block of one column per hashing thread."""
    with _reading(path_or_uri, "parquet"), open_source() as source:
        pf, sizes = open_parquet(source, str(path_or_uri))
        schema = pf.schema_arrow
        if len(set(schema.names)) != len(schema.names):  # repeated names cannot be read one by one
            return hash_table(pf.read(), **options)

        def load(name: str) -> pa.ChunkedArray:
            return pf.read(columns=[name], use_pandas_metadata=False).column(0)

        row_groups = RowGroupColumns(pf, str(path_or_uri), batch_rows=options["block_rows"], sizes=sizes)
        try:
            return hash_table_columns(schema.empty_table(), load, sum(sizes), blocks=row_groups.reader,
                                      **options)
        finally:
            row_groups.release()


def _sha256(open_source: PassOpener) -> str:
    with open_source() as f:
        return sha256_stream(f)


@contextmanager
def _sha256_beside(open_source: PassOpener, wanted: bool) -> Iterator[Callable[[], str | None]]:
    """``result()``: the SHA-256 of the bytes ``open_source`` opens (None unless ``wanted``), read in a thread
    while the caller's passes read the same opening (one local file descriptor, mostly from the page cache the
    passes fill), so the two digests are of one version of the bytes."""
    if not wanted:
        yield _no_sha256
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdprov-sha256") as pool:
        # in this context: an s3:// object is read with the client chosen here (remote.s3_clients_from)
        yield pool.submit(contextvars.copy_context().run, _sha256, open_source).result


def hash_path(path_or_uri: str | Path, *, granularity: Granularity = "column", csv_dtypes: Mapping[str, Any] | None = None,
              as_bytes: bool = False, block_rows: int = BLOCK_ROWS, threads: int | None = None,
              file_sha256: bool = False, etag: str | None = None, opened: Opened | None = None
              ) -> TableDigest | FileDigest:
    """Table digest of a .parquet/.csv/.jsonl/.ndjson file, else (or with ``as_bytes``) a digest of its bytes.

    ``file_sha256``: also give the SHA-256 of the file's bytes (``.file_sha256``): in the same pass for
    a file hashed as bytes, and for an ``s3://`` object (a table's taken as its first pass reads it: one GET);
    for a local table file, read once more in a thread while the table is hashed.
    A local table file is opened once for all its passes; one written while it is hashed (or whose change time
    alone moves: a chmod) is hashed once more from the start, and refused when it changes again
    (:mod:`prov_common.hashing.one_open`), and so is a local file hashed as bytes. Every read of an ``s3://`` object asks for the ETag the first
    read found (:mod:`prov_common.hashing.s3_pin`): one overwritten between two reads is hashed once more
    from the start, and refused (:class:`~prov_common.hashing.s3_pin.ObjectChangedError`) when it changes
    again. ``etag``: the ETag an ``s3://`` object must have (as a listing gave it); other bytes are refused. An empty
    one pins nothing (the object is read as one no listing named). ``opened``: told the status (``os.fstat``) of a
    local file as it was opened for the hash, so that what a record states of it beside the digest (size, modification
    time, inode) is of the bytes hashed, not of a file a listing found at its path before (not told for a URI).
    """
    return _again_if_changed(lambda: _hash_path(path_or_uri, granularity, csv_dtypes, as_bytes, block_rows, threads,
                                                file_sha256, etag, opened), etag)


def _again_if_changed(read: Callable[[], T], etag: str | None = None) -> T:
    """``read()``, once more from the start when the ``s3://`` object it reads was overwritten between two of its
    reads (:class:`~prov_common.hashing.s3_pin.ObjectChangedError`) or the local file it reads changed while read
    (:class:`~prov_common.hashing.one_open.FileChangedError`: a chmod, chown or backup tool moves its change time
    alone); refused when it changes again, and at once when ``etag`` (a listing's, not empty) pinned an object: that
    listing is out of date, and reading again cannot mend it."""
    try:
        return read()
    except FileChangedError:
        pass
    except ObjectChangedError:
        if etag:
            raise
    return read()


def _hash_path(path_or_uri: str | Path, granularity: Granularity, csv_dtypes: Mapping[str, Any] | None,
               as_bytes: bool, block_rows: int, threads: int | None, file_sha256: bool, etag: str | None,
               opened: Opened | None) -> TableDigest | FileDigest:
    fmt = None if as_bytes else table_format(path_or_uri)
    if fmt is None:  # one pass, checked as a table's passes are: a local file written meanwhile is refused
        pinned = _pinned_s3(path_or_uri, etag)
        with _sources(path_or_uri, opened) if pinned is None else nullcontext(pinned.open) as open_source, \
                open_source() as f:
            return hash_stream(f, sha256=file_sha256)
    options: dict[str, Any] = {"granularity": granularity, "block_rows": block_rows, "threads": threads}
    with _passes(path_or_uri, etag, file_sha256, opened) as (open_source, sha256):
        if fmt == "parquet":
            table = _hash_parquet(path_or_uri, open_source, **options)
        else:
            table = _hash_streamed(path_or_uri, open_source, fmt, csv_dtypes, **options)
        return replace(table, file_sha256=sha256())
