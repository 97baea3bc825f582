"""Columns to hash: pandas DataFrames and Arrow tables turned into an ordered list of column sources.

A source knows its name, role (column or index), Arrow type and length, and hands out one block of
rows at a time as an Arrow array, so a column is never converted or copied as a whole when it does not
need to be (numpy columns are wrapped block by block, zero-copy when contiguous).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from prov_common.canonical_json import canonical_bytes
from prov_common.errors import BadInputError, UnsupportedTypeError
from prov_common.hashing.nesting import (MAX_LEVELS, Held, Nesting, first_expanded, first_holding,
                                         first_holding_itself, nesting)
from prov_common.hashing.object_columns import check_read_as_given, missing
from prov_common.hashing.types import canonical_type
from prov_common.text import VALUE_AT_MOST, cut, noun_for

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_CONVERT_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError, OverflowError)


@dataclass
class ColumnSource:
    """One column (or index level) ready to be hashed block by block."""

    label: Any  # the column label as given (str, int, tuple, ...) or the index level's name
    display: str
    role: str  # "column" | "index"
    type: pa.DataType
    length: int
    block: Callable[[int, int], pa.Array]  # (start, rows) -> array
    dictionary: pa.Array | None = None  # categories of a dictionary column
    name_key: bytes = b""  # RFC 8785 canonical JSON of the label: what the column digest covers as its name
    numbers: np.ndarray | None = None  # plain numpy numbers whose encoding, when none is missing, is their bytes

    def __post_init__(self) -> None:
        if not self.name_key:
            self.name_key = label_key(self.label)


def label_key(label: Any) -> bytes:
    """The name key of a column label (str, int, float, bool, None, or tuples of these): its canonical JSON, except a
    float that canonical JSON writes as an integer (``1.0`` as ``1``, ``-0.0`` as ``0``), written with its fraction
    (``1.0``, ``-0.0``) so that no label of another kind has its key."""
    try:
        return _label_key(label)
    except UnsupportedTypeError:
        raise
    except BadInputError as exc:  # a lone surrogate, an integer JSON cannot hold exactly
        raise UnsupportedTypeError(f"column label {label!r} has no canonical form: {exc.what}",
                                   fix="give it a name of valid Unicode text (a lone surrogate such as '\\udcff' is none) or an "
                                       "integer within +/-(2**53 - 1), e.g. df.columns = [str(c) for c in df.columns]") from exc


def _label_key(label: Any) -> bytes:
    if isinstance(label, np.generic):
        label = label.item()
    if label is None or isinstance(label, (str, bool, int)):
        return canonical_bytes(label)
    if isinstance(label, float) and np.isfinite(label):
        return _float_key(label)
    if isinstance(label, tuple):  # a JSON array, as canonical JSON writes one (no spaces)
        return b"[" + b",".join(map(_label_key, label)) + b"]"
    raise UnsupportedTypeError(
        f"column label {label!r} of type {type(label).__name__} has no canonical form.",
        fix="use str, int, float or bool labels, e.g. df.columns = df.columns.astype(str).",
    )


def _float_key(label: float) -> bytes:
    """A float label's canonical JSON, with ``.0`` where that has no fraction nor exponent (as an integer's has), and
    the sign of a negative zero: pandas keeps a float label a float (in Parquet too), so ``1.0`` is not ``1``."""
    key = canonical_bytes(label)
    if b"." in key or b"e" in key:
        return key
    return b"-0.0" if key == b"0" and math.copysign(1.0, label) < 0 else key + b".0"


def display_label(label: Any) -> str:
    """How a label is shown: strings as they are, anything else as its canonical JSON."""
    return label if isinstance(label, str) else label_key(label).decode()


def index_display(name: Any, level: int) -> str:
    """``__index__:<name>`` or ``__index__:<level>`` for an unnamed level."""
    return f"__index__:{level if name is None else display_label(name)}"


# --- Arrow sources -------------------------------------------------------------------------------

def _slice(col: pa.ChunkedArray, start: int, rows: int) -> pa.Array:
    """Rows [start, start + rows) as one array: zero-copy unless they span chunks."""
    chunks = col.slice(start, rows).chunks
    if len(chunks) == 1:
        return chunks[0]
    if not chunks:
        return pa.array([], type=col.type)
    return pa.concat_arrays(chunks)


def _chunked_block(col: pa.ChunkedArray) -> Callable[[int, int], pa.Array]:
    return lambda start, rows: _slice(col, start, rows)


Loader = Callable[[str], pa.ChunkedArray]
BlockReader = Callable[[str], Callable[[int, int], pa.Array]]  # column name -> (start, rows) -> array


class _LazyColumn:
    """A column read on first use (under a lock shared by one file) and let go after its last block."""

    def __init__(self, load: Callable[[], pa.ChunkedArray], length: int, lock: threading.Lock) -> None:
        self._load = load
        self._length = length
        self._lock = lock
        self._col: pa.ChunkedArray | None = None
        self._served = 0

    def block(self, start: int, rows: int) -> pa.Array:
        with self._lock:
            col = self._col if self._col is not None else self._load()
            self._served += rows
            self._col = col if self._served < self._length else None
        return _slice(col, start, rows)


def _dictionary_of(col: pa.ChunkedArray) -> pa.Array | None:
    if not pa.types.is_dictionary(col.type):
        return None
    if col.num_chunks == 0:
        return pa.array([], type=col.type.value_type)
    first = col.chunk(0).dictionary
    if all(c.dictionary.equals(first) for c in col.chunks[1:]):
        return first
    return col.unify_dictionaries().chunk(0).dictionary


def arrow_source(col: pa.Array | pa.ChunkedArray, label: Any, display: str, role: str) -> ColumnSource:
    """A source over an Arrow column; the type is checked here so errors name the column."""
    if isinstance(col, pa.Array):
        col = pa.chunked_array([col], type=col.type)
    _check_type(col.type, display)
    return ColumnSource(label, display, role, col.type, len(col), _chunked_block(col), _dictionary_of(col))


def too_deep(display: str) -> UnsupportedTypeError:
    """The refusal of a column nested deeper than the hash recurses (a ``RecursionError`` met on it), naming it."""
    return UnsupportedTypeError(f"column {display!r} is nested too deeply to be hashed.",
                                fix="flatten it (at most a few hundred levels of lists and structs), e.g. keep its "
                                    "deepest levels as JSON text.")


def _check_type(t: pa.DataType, display: str) -> None:
    try:
        canonical_type(t)
    except RecursionError:
        raise too_deep(display) from None
    except UnsupportedTypeError as exc:
        raise UnsupportedTypeError(
            f"column {display!r} has type {t}, which has no canonical encoding.",
            fix="convert it to a supported type (numbers, bool, strings, bytes, dates, times, decimals, "
                "lists, structs, maps, categoricals), e.g. df[col] = df[col].astype(str).",
        ) from exc


# --- pandas sources ------------------------------------------------------------------------------

_NUMPY_KINDS = "biufmM"
_PLAIN_KINDS = "biuf"  # bool, ints and floats: one value is its bytes (float16 is widened, so not plain)


def _numpy_block(values: np.ndarray) -> Callable[[int, int], pa.Array]:
    from_pandas = values.dtype.kind in "mM"  # NaT -> null; float NaN is handled by the encoder

    def block(start: int, rows: int) -> pa.Array:
        return pa.array(np.ascontiguousarray(values[start:start + rows]), from_pandas=from_pandas)
    return block


def pandas_source(values: pd.Series | pd.Index, label: Any, display: str, role: str,
                  converted: pa.ChunkedArray | None = None) -> ColumnSource:
    """A source over a pandas column or index level; numpy data is wrapped block by block. ``converted``: the same
    values as Arrow already made them (see :func:`dataframe_sources`): date-times and durations are sliced from it
    instead of being converted again, when it has the type and length their conversion gives."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in _NUMPY_KINDS:
        array = np.asarray(values)
        if dtype.kind in "mM" and np.datetime_data(dtype)[0] == "generic":
            raise UnsupportedTypeError(f"column {display!r} has dtype {dtype} without a unit.",
                                       fix="give it a unit, e.g. .astype('datetime64[ns]').")
        arrow_type = pa.from_numpy_dtype(dtype)
        _check_type(arrow_type, display)
        widened = dtype.kind in "iu" and canonical_type(arrow_type) == pa.int64()  # narrow ints hash as int64
        plain = dtype.kind in _PLAIN_KINDS and dtype.isnative and (canonical_type(arrow_type) == arrow_type or widened)
        reuse = (dtype.kind in "mM" and converted is not None and converted.type == arrow_type
                 and len(converted) == len(array))  # NaT is null in both
        return ColumnSource(label, display, role, arrow_type, len(array),
                            _chunked_block(converted) if reuse else _numpy_block(array),
                            numbers=array if plain else None)
    if isinstance(dtype, np.dtype) and dtype.kind == "c":
        raise UnsupportedTypeError(f"column {display!r} has dtype {dtype}; complex numbers have no canonical encoding.",
                                   fix="split it into real and imaginary float columns.")
    if type(dtype).__name__ == "SparseDtype":  # pyarrow reads no sparse array (it said: values of mixed types)
        raise UnsupportedTypeError(f"column {display!r} has dtype {dtype}; sparse columns have no canonical encoding.",
                                   fix=f"make it dense, df[{display!r}] = df[{display!r}].sparse.to_dense(), which hashes "
                                       "as the same values stored densely.")
    nested = nesting(values) if dtype == object else Nesting(0, False)
    if nested.levels > MAX_LEVELS:  # Arrow's inference would overflow the stack
        if (row := first_holding_itself(values)) is not None:
            raise UnsupportedTypeError(f"column {display!r} holds a value that contains itself (row {row}), which has no "
                                       "end to hash.", fix="remove the value's reference to itself (a list or dict that "
                                                           "holds itself, directly or through others), or store what it "
                                                           "means as text.")
        raise too_deep(display)
    if nested.datetime64_beside_ints:  # pyarrow's inference would crash the process
        raise UnsupportedTypeError(
            f"column {display!r} has dtype object holding numpy datetime64 values beside numpy integers or booleans, "
            "which cannot be hashed as one type.",
            fix=f"keep the date-times and the numbers in columns of their own, or convert the column to one type, e.g. "
                f"df[{display!r}] = df[{display!r}].astype(str).")
    if nested.repeats and (expanded := first_expanded(values)) is not None:  # Arrow would make every repeat
        raise UnsupportedTypeError(
            f"column {display!r} holds a value (row {expanded.row}) that repeats its own lists or dicts: it holds "
            f"{expanded.held:,} items and stands for {expanded.shown_items} once each repeat is written out, which is "
            "far beyond what it holds.", fix="hold each list or dict once where it is meant once, or store the value in "
                                             "a shorter form (as text, or its repeated part in a column of its own).")
    try:
        col = pa.array(values, from_pandas=True)
    except UnicodeEncodeError as exc:  # a lone surrogate: "convert it to one type" would not help
        raise _not_unicode(values, display) from exc
    except _CONVERT_ERRORS as exc:
        if dtype == object and (infinity := first_holding(values, _is_decimal_infinity)) is not None:
            raise _decimal_infinity(display, infinity) from exc
        raise UnsupportedTypeError(
            f"column {display!r} has dtype {dtype} holding {_describe_values(values)}, which cannot be hashed: "
            f"{_arrow_reason(exc)}.",
            fix=f"convert it to one type, e.g. df[{display!r}] = df[{display!r}].astype(str), or declare its dtype.",
        ) from exc
    try:
        if dtype == object:
            check_read_as_given(values, col, display, nested)
        return arrow_source(col, label, display, role)
    except RecursionError:
        raise too_deep(display) from None


def _arrow_reason(exc: BaseException) -> str:
    """pyarrow's reason for refusing a value, ``Could not convert <value's repr> with type <type>: ...``, with the repr
    (of any length: a value's own ``__repr__``) cut to 200 characters; the type is kept."""
    text = " ".join(str(exc).split())
    value, with_type, why = text.removeprefix(_COULD_NOT).rpartition(" with type ")
    if text.startswith(_COULD_NOT) and with_type:
        return f"{_COULD_NOT}{cut(value, VALUE_AT_MOST)}{with_type}{cut(why, _REASON_AT_MOST)}"
    return cut(text, _REASON_AT_MOST)


_COULD_NOT = "Could not convert "
_REASON_AT_MOST = 300


def _not_unicode(values: pd.Series | pd.Index, display: str) -> UnsupportedTypeError:
    """The refusal of a column holding text UTF-8 cannot hold (a lone surrogate, as ``errors='surrogateescape'`` leaves),
    naming the first such row."""
    def bad(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    found = next(((row, value) for row, value in enumerate(values) if bad(value)), None)  # None: inside a list or struct
    at = f" (row {found[0]}: {found[1]!r:.60})" if found is not None else ""
    return UnsupportedTypeError(
        f"column {display!r} holds text that is not valid Unicode{at}: a lone surrogate, as text decoded with "
        "errors='surrogateescape' keeps an undecodable byte, which UTF-8 cannot hold.",
        fix=f"repair the text, e.g. df[{display!r}] = df[{display!r}].str.encode('utf-8', 'surrogateescape')"
            ".str.decode('utf-8', 'replace'), or store the column as bytes")


def _is_decimal_infinity(value: Any) -> bool:
    return isinstance(value, Decimal) and value.is_infinite()


def _decimal_infinity(display: str, found: Held) -> UnsupportedTypeError:
    """The refusal of a column holding a decimal infinity (``found``), which Arrow's decimal type cannot hold (pyarrow
    said only: 'str' object cannot be interpreted as an integer)."""
    inside = ", inside a list or dict" if found.nested else ""
    fix = ("store the numbers inside as floats, which hold infinities, or as text (str(x))" if found.nested else
           f"store the column as floats, which hold infinities, e.g. df[{display!r}] = df[{display!r}].astype(float) "
           f"(digits beyond a float's are lost), or as text, df[{display!r}] = df[{display!r}].astype(str)")
    return UnsupportedTypeError(f"column {display!r} holds a decimal infinity (row {found.row}{inside}: {found.value!r}), "
                                "which a decimal column cannot hold.", fix=fix + "; or None where it means a missing value.")


def _describe_values(values: pd.Series | pd.Index) -> str:
    import pandas as pd  # here: only pandas sources are described

    array = np.asarray(values, dtype=object)
    sample = pd.Series(array[~missing(array)]).iloc[:10_000]
    names = sorted({type(v).__name__ for v in sample})
    if len(names) > 1:
        return "values of mixed types " + ", ".join(names)
    return f"Python objects of type {names[0]}" if names else "no values"


def level_values(index: pd.Index, level: int) -> pd.Index:
    """The values of the level of ``index`` at position ``level``. ``Index.get_level_values`` takes an int as a level's
    name first: with levels named 1 and 'b' it gave the level named 1 for position 1, so the level 'b' was not hashed."""
    return index._get_level_values(level)  # by position only (pandas' own, behind get_level_values)


def _is_default_index(index: pd.Index) -> bool:
    import pandas as pd  # here: only a DataFrame has an index

    return (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None)


def dataframe_sources(df: pd.DataFrame, arrow: pa.Table | None = None) -> Iterator[ColumnSource]:
    """Index levels (unless the default RangeIndex) then columns, in order, created lazily. ``arrow``: ``df`` as an
    Arrow table (``pa.Table.from_pandas(df)``, or the table ``df`` was read from): a column labelled by text that names
    one field of it is handed that field's values as converted (:func:`pandas_source`)."""
    if not _is_default_index(df.index):
        for level in range(df.index.nlevels):
            values = level_values(df.index, level)
            name = df.index.names[level]
            yield pandas_source(values, name, index_display(name, level), "index")
    for label, series in df.items():
        yield pandas_source(series, label, display_label(label), "column", _field(arrow, label))


def _field(arrow: pa.Table | None, label: Any) -> pa.ChunkedArray | None:
    """The column of ``arrow`` named ``label``, when ``label`` is text and names exactly one (None otherwise)."""
    if arrow is None or not isinstance(label, str):
        return None
    position = arrow.schema.get_field_index(label)  # -1 when no field, or more than one, has the name
    return arrow.column(position) if position >= 0 else None


class _Columns:
    """The columns of a table in memory, or of a file read column by column through ``load``, or block
    by block through ``blocks`` (categorical columns, whose categories are needed up front, still by ``load``)."""

    def __init__(self, table: pa.Table, load: Loader | None, rows: int | None, blocks: BlockReader | None = None) -> None:
        self.table = table
        self.schema = table.schema
        # once: Table.column_names and Schema.names build the list of every name on each call
        self.names: list[str] = self.schema.names
        self.load = load
        self.blocks = blocks
        self.rows = table.num_rows if rows is None else rows
        self.lock = threading.Lock()

    def source(self, field: str | int, label: Any, display: str, role: str) -> ColumnSource:
        """A source for a column given by name or position (names must be unique to be read lazily)."""
        t = self.schema.field(field).type
        name = self.names[field] if isinstance(field, int) else field
        if self.load is None:
            return arrow_source(self.table.column(field), label, display, role)
        if pa.types.is_dictionary(t):  # categories are needed up front
            return arrow_source(self.load(name), label, display, role)
        _check_type(t, display)
        if self.blocks is not None:
            return ColumnSource(label, display, role, t, self.rows, self.blocks(name))
        load = self.load
        lazy = _LazyColumn(lambda: load(name), self.rows, self.lock)
        return ColumnSource(label, display, role, t, self.rows, lazy.block)


def table_sources(table: pa.Table, index_columns: list[str] | None, use_pandas_metadata: bool,
                  load: Loader | None = None, rows: int | None = None,
                  blocks: BlockReader | None = None) -> list[ColumnSource]:
    """Sources of an Arrow table: named index columns first, then the others in table order.

    With ``index_columns=None`` and pandas metadata present, the metadata says which columns are the
    index (and a stored RangeIndex that is not the default one becomes an index column). With ``load``,
    ``table`` only gives the schema (no rows) and each column is read by ``load(name)`` when hashed;
    with ``blocks`` as well, by ``blocks(name)(start, rows)`` a block at a time.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise BadInputError(f"expected a pyarrow Table, got {type(table).__name__}.",
                            fix="pass a pyarrow.Table, or use hash_dataframe() for pandas.")
    columns = _Columns(table, load, rows, blocks)
    meta = columns.schema.pandas_metadata if (use_pandas_metadata and index_columns is None) else None
    if meta:
        return _pandas_meta_sources(columns, meta)
    index_columns = list(index_columns or [])
    names = set(columns.names)
    missing = [c for c in index_columns if c not in names]
    if missing:
        raise BadInputError(f"{noun_for(len(missing), 'index column')} {', '.join(map(repr, missing))} "
                            f"{'is' if len(missing) == 1 else 'are'} not in the table.", fix=f"choose from {columns.names}.")
    indexes = set(index_columns)
    sources = [columns.source(c, c, index_display(c, i), "index") for i, c in enumerate(index_columns)]
    sources += [columns.source(i, n, n, "column") for i, n in enumerate(columns.names) if n not in indexes]
    return sources


def _pandas_meta_sources(columns: _Columns, meta: dict) -> list[ColumnSource]:
    table = columns.table
    entries = meta.get("index_columns", [])
    index_fields = {e for e in entries if isinstance(e, str)}
    by_field = {c.get("field_name", c.get("name")): c for c in meta.get("columns", [])}
    sources: list[ColumnSource] = []
    if not (len(entries) == 1 and isinstance(entries[0], dict) and _is_default_range(entries[0])):
        for level, entry in enumerate(entries):
            if isinstance(entry, dict):
                name = entry.get("name")
                values = pa.array(np.arange(entry["start"], entry["stop"], entry["step"], dtype=np.int64))
                sources.append(arrow_source(values, name, index_display(name, level), "index"))
            else:
                name = by_field.get(entry, {}).get("name")
                sources.append(columns.source(entry, name, index_display(name, level), "index"))
    data_fields = [n for n in columns.names if n not in index_fields]
    try:
        labels = list(table.slice(0, 0).to_pandas().columns)
    except Exception:  # labels cannot be restored: use the field names  # noqa: BLE001
        labels = data_fields
    if len(labels) != len(data_fields):
        labels = data_fields
    for field, label in zip(data_fields, labels, strict=True):
        sources.append(columns.source(field, label, display_label(label), "column"))
    return sources


def _is_default_range(entry: dict) -> bool:
    return entry.get("kind") == "range" and entry.get("start") == 0 and entry.get("step") == 1 and entry.get("name") is None
