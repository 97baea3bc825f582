"""Compare two table digests: which columns and which rows changed."""
from __future__ import annotations

from collections import Counter

import numpy as np

from prov_common.errors import BadInputError
from prov_common.hashing.model import ColumnDigest, DigestDiff, TableDigest
from prov_common.hashing.rows import digests_matrix


def _keyed(td: TableDigest) -> dict[tuple[str, str, int], tuple[int, ColumnDigest]]:
    seen: Counter = Counter()
    out = {}
    for i, c in enumerate(td.columns):
        seen[(c.role, c.name)] += 1
        out[(c.role, c.name, seen[(c.role, c.name)])] = (i, c)
    return out


def _label(key: tuple[str, str, int]) -> str:
    role, name, k = key
    return name + (f"#{k}" if k > 1 else "")


def _ranges(mask: np.ndarray) -> tuple[tuple[int, int], ...]:
    """Half-open runs of True in a boolean array."""
    if not mask.any():
        return ()
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return tuple((int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True))


def diff_digests(a: TableDigest, b: TableDigest) -> DigestDiff:
    """Name the columns that changed, were added or removed, and the changed row ranges."""
    if a.kind != "table" or b.kind != "table":
        raise BadInputError("diff_digests compares two table digests.", fix="hash both inputs as tables.")
    if a.digest == b.digest:
        return DigestDiff(same=True, rows_a=a.rows, rows_b=b.rows)
    ka, kb = _keyed(a), _keyed(b)
    common = [k for k in ka if k in kb]
    changed = tuple(_label(k) for k in common if ka[k][1].digest != kb[k][1].digest)
    types = {_label(k): (ka[k][1].logical_type, kb[k][1].logical_type)
             for k in common if ka[k][1].logical_type != kb[k][1].logical_type}
    order_changed = [k for k in ka if k in kb] != [k for k in kb if k in ka]
    rows = max(a.rows, b.rows)
    mask = np.zeros(rows, dtype=bool)
    detail = "none"
    if a.row_digests is not None and b.row_digests is not None:
        detail = "rows"
        da, db = digests_matrix(a.row_digests), digests_matrix(b.row_digests)
        n = min(len(da), len(db))
        mask[:n] = (da[:n] != db[:n]).any(axis=1)
        mask[n:] = True
    elif a.blocks is not None and b.blocks is not None and a.block_rows == b.block_rows:
        detail = "blocks"
        size = a.block_rows
        for k in common:
            ba, bb = a.blocks.get(_label(k), ()), b.blocks.get(_label(k), ())
            for j in range(max(len(ba), len(bb))):
                if j >= len(ba) or j >= len(bb) or ba[j] != bb[j]:
                    mask[j * size:(j + 1) * size] = True
        mask[min(a.rows, b.rows):] = True
    return DigestDiff(
        same=False,
        rows_a=a.rows,
        rows_b=b.rows,
        changed_columns=changed,
        added_columns=tuple(_label(k) for k in kb if k not in ka),
        removed_columns=tuple(_label(k) for k in ka if k not in kb),
        type_changes=types,
        order_changed=order_changed,
        changed_row_ranges=_ranges(mask) if detail != "none" else (),
        changed_row_count=int(mask.sum()) if detail != "none" else None,
        row_detail=detail,  # type: ignore[arg-type]
    )
