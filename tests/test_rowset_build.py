"""The row-set builder against the spec of docs/content-hash.md ("Row sets"), computed here with hashlib
alone, and the same file from one array of row digests, from several chunks of it, or from sorted runs
of keys merged one bucket range at a time."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mount_support import small_files
from prov_common.rowset import runs as runs_module
from prov_common.rowset.format import bits_for, build, sorted_keys
from prov_common.rowset.runs import KeyRuns, build_from_runs, key_run, merged_ranges


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


@pytest.mark.parametrize("rows,width", [(7000, 8), (7000, 4), (300_000, 8), (300_000, 4)])
def test_runs_of_sorted_keys_merged_a_range_at_a_time_give_the_file_of_all_digests(
        rows: int, width: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards sort their own keys where they are hashed and spill them to files (or keep them, on a worker
    elsewhere); merged one bucket range at a time, they give the bytes of the file of all rows at once,
    with fewer buckets than index cells (7,000 rows: 8) and more (300,000 rows: 512)."""
    monkeypatch.setattr(runs_module, "RANGE_KEYS", 1000)  # many ranges, each of whole buckets
    digests = np.random.default_rng(rows + width).integers(0, 256, size=(rows, 16), dtype=np.uint8)
    digests[10:15] = digests[rows - 100]  # duplicates across runs are kept
    whole = build(digests, [("id", "int64")], width=width)
    cuts = [0, 1000, 1000, rows // 2, rows - 1, rows]  # an empty run among them
    spilled = [key_run(sorted_keys(digests[a:b], width=width), str(tmp_path)) for a, b in zip(cuts, cuts[1:])]
    kept = key_run(sorted_keys(digests[:0], width=width), str(tmp_path / "on-another-machine"))
    assert kept.path is None and all(r.path is not None and r.keys is None for r in spilled)
    runs = KeyRuns((*spilled[:2], kept, *spilled[2:]))
    ranges = list(merged_ranges(runs, bits_for(rows)))
    assert len(ranges) > 3 and max(len(keys) for keys, _ in ranges) <= 1000 + rows // 256 * 2
    assert np.array_equal(np.concatenate([keys for keys, _ in ranges]), sorted_keys(digests, width=width))
    assert build_from_runs(runs, [("id", "int64")], width=width) == (bytes(whole[0]), whole[1])


def test_the_row_set_of_spilled_runs_is_its_file_mapped_never_read_into_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The row-set file is given as a read-only view of the mapped file (the 87 MB of a 10-million-row set
    were read back into memory); its name is gone at once, so it goes with the view, and the bytes are
    those of the file of all digests."""
    import tracemalloc

    from prov_common.rowset.runs import spill_folder

    monkeypatch.setattr(runs_module, "RANGE_KEYS", 1 << 14)  # 128 KiB of keys merged at a time
    digests = np.random.default_rng(3).integers(0, 256, size=(600_000, 16), dtype=np.uint8)
    folder = spill_folder()
    assert folder is not None
    runs = KeyRuns(tuple(key_run(sorted_keys(digests[a:b]), folder.name) for a, b in ((0, 250_000), (250_000, 600_000))),
                   folder)
    tracemalloc.start()
    try:
        data, root = build_from_runs(runs, [("id", "int64")])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data) // 4, f"{peak:,} bytes held to build a row set of {len(data):,}"
    assert isinstance(data, memoryview) and data.readonly
    assert (data, root) == build(digests, [("id", "int64")])
    assert sorted(os.listdir(folder.name)) == sorted(os.path.basename(r.path) for r in runs.runs)  # the key runs only


def test_a_run_that_cannot_be_spilled_is_kept_in_memory() -> None:
    """A worker that cannot write its keys to the folder (a full disk here; a folder of another user alike) keeps
    them and leaves no file behind."""
    keys = sorted_keys(np.random.default_rng(1).integers(0, 256, size=(3000, 16), dtype=np.uint8))
    spill = tempfile.mkdtemp(prefix="tdprov-test-spill-")
    try:
        code = ("import numpy as np; from prov_common.rowset.runs import key_run; "
                f"r = key_run(np.arange(3000, dtype=np.uint64), {spill!r}); print(r.path, r.rows, int(r.keys[-1]))")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                             preexec_fn=small_files(4096))  # 3,000 keys are 24,000 bytes
        assert run.stdout.split() == ["None", "3000", "2999"], run.stderr
        assert os.listdir(spill) == []
    finally:
        os.rmdir(spill)
    assert np.array_equal(key_run(keys, None).keys, keys) and key_run(keys, None).rows == 3000


def test_a_row_set_that_cannot_be_written_to_a_temporary_file_is_built_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while the row set is built: the same bytes, built in a buffer instead (a range at a time too)."""
    digests = np.random.default_rng(2).integers(0, 256, size=(5000, 16), dtype=np.uint8)
    runs = KeyRuns((key_run(sorted_keys(digests[:2000]), None), key_run(sorted_keys(digests[2000:]), None)))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs_module.tempfile, "mkstemp", full)
    data, root = build_from_runs(runs, [("id", "int64")])
    assert (data, root) == build(digests, [("id", "int64")])
