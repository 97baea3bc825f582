"""The row-set builder against the spec of docs/content-hash.md ("Row sets"), computed here with hashlib
alone, and the same file from one array of row digests or from several chunks of it."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from prov_common.rowset.format import build, build_from_keys, merge_sorted_keys, sorted_keys


def spec_root(digests: np.ndarray, width: int) -> str:
    """Rows root by the documented rule: sorted big-endian prefixes, buckets by top bits, RFC 6962 tree."""
    rows = len(digests)
    keys = sorted(bytes(d[:width]) for d in digests)
    bits = max(0, int(np.ceil(np.log2(rows / 1024)))) if rows > 1024 else 0
    top = lambda k: int.from_bytes(k.ljust(8, b"\0")[:8], "big") >> (64 - bits) if bits else 0  # noqa: E731
    level = [hashlib.sha256(b"\x00" + b"".join(k for k in keys if top(k) == i)).digest() for i in range(2 ** bits)]
    while len(level) > 1:
        level = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    shape = bytes([width, bits]) + rows.to_bytes(8, "big")
    return "sha256:" + hashlib.sha256(b"tdprov-rows-v1\x00" + shape + level[0]).hexdigest()


@pytest.mark.parametrize("rows,width", [(0, 8), (1, 8), (1024, 8), (5000, 8), (5000, 4)])
def test_build_follows_the_spec_and_chunks_give_the_same_file(rows: int, width: int) -> None:
    digests = np.random.default_rng(rows).integers(0, 256, size=(rows, 16), dtype=np.uint8)
    if rows > 4:
        digests[rows // 2:rows // 2 + 3] = digests[0]  # duplicates are kept
    before = digests.copy()
    data, root = build(digests, [("id", "int64")], width=width)
    assert root == spec_root(digests, width)
    cuts = [0, rows // 3, rows // 3, 2 * rows // 3, rows]  # an empty chunk among them
    chunked = build([digests[a:b] for a, b in zip(cuts, cuts[1:])], [("id", "int64")], width=width)
    assert chunked == (data, root)
    assert np.array_equal(digests, before)  # the input is left as it was (sorted in a copy)


@pytest.mark.parametrize("width", [8, 4])
def test_a_file_from_keys_sorted_in_runs_and_merged_is_the_file_of_all_digests(width: int) -> None:
    """Shards sort their own keys where they are hashed; merged, they give the file of all rows at once."""
    digests = np.random.default_rng(width).integers(0, 256, size=(7000, 16), dtype=np.uint8)
    digests[10:15] = digests[6000]  # duplicates across runs are kept
    whole = build(digests, [("id", "int64")], width=width)
    runs = [sorted_keys(digests[a:b], width=width) for a, b in [(0, 1000), (1000, 1000), (1000, 6999), (6999, 7000)]]
    assert all(np.all(r[:-1] <= r[1:]) for r in runs)
    merged = merge_sorted_keys(runs)
    assert merged.dtype == np.uint64 and np.array_equal(merged, sorted_keys(digests, width=width))
    assert build_from_keys(merged, [("id", "int64")], width=width) == whole
    assert whole[1] == spec_root(digests, width)
