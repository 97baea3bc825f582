"""Hashing a JSON-lines file with one very long line: peak memory and time of ``hash_path``.

    python benchmarks/bench_jsonl.py [--mib 200] [--whole-mib 20] [--out benchmarks/results/jsonl.md]

Writes two files of three lines each whose middle line is about ``--mib`` MiB: one whose bulk is many
values (a list of floats and a list of short strings, as an embedding and its tokens) and one whose
bulk is a single string (decoded in pieces apart from the parser). Each is hashed in a fresh process with ``hash_path`` (a line over 8 MiB
goes to the incremental parser, :mod:`prov_common.hashing.jsonl_long`); at ``--whole-mib`` the same
files are also hashed by parsing the line whole with ``pyarrow.json`` (the way before), which must give
the same digest. Peak memory is the growth of the process's peak resident size (``VmHWM``, reset
after start-up) while it hashes.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from peak_memory import measure
from harness import OUT_HELP, machine, report  # noqa: E402

_IMPORTS = """
from prov_common.hashing import hash_path
from prov_common.hashing.jsonl_stream import hash_jsonl_stream
"""
_HASH = """
if how == "whole":
    td = hash_jsonl_stream(lambda: open(path, "rb"), long_line_bytes=1 << 62)
else:
    td = hash_path(path)
"""


def _write(path: Path, mib: int, shape: str) -> None:
    """Three lines; the middle one about ``mib`` MiB of many values or of one string."""
    target = mib * 2**20
    with path.open("w") as f:
        f.write(json.dumps({"id": 1, "emb": [0.5], "tokens": ["a"], "text": "short"}) + "\n")
        if shape == "values":
            f.write('{"id": 2, "emb": [')
            piece = ", ".join(f"{k / 7:.9f}" for k in range(10_000))
            for k in range(target // 2 // len(piece)):
                f.write(("," if k else "") + piece)
            f.write('], "tokens": [')
            piece = ", ".join(f'"tok{k}"' for k in range(10_000))
            for k in range(target // 2 // len(piece)):
                f.write(("," if k else "") + piece)
            f.write('], "text": "long"}\n')
        else:
            f.write('{"id": 2, "emb": [], "tokens": [], "text": "')
            piece = r'lorem ipsum \u00e9 \"q\" ' * 4000  # JSON escapes, written as they are
            for _ in range(target // len(piece)):
                f.write(piece)
            f.write('"}\n')
        f.write(json.dumps({"id": 3, "emb": [], "tokens": [], "text": "z"}) + "\n")


def _measure(path: Path, how: str) -> dict:
    return measure(_IMPORTS, _HASH, str(path), how)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="size of the long line (default 200)")
    parser.add_argument("--whole-mib", type=int, default=20, help="size at which the line is also parsed whole")
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ("values", "string"):
            for mib, ways in ((args.whole_mib, ("streamed", "whole")), (args.mib, ("streamed",))):
                path = Path(tmp) / f"{shape}-{mib}.jsonl"
                _write(path, mib, shape)
                size = path.stat().st_size / 2**20
                runs = [(how, _measure(path, how)) for how in ways]
                assert len({r["digest"] for _, r in runs}) == 1, f"{shape}: the ways disagree: {runs}"
                for how, r in runs:
                    way = "`hash_path`" if how == "streamed" else "line parsed whole (`pyarrow.json`, before)"
                    rows.append(f"| {shape} | {size:,.0f} MiB | {way} | {r['seconds']:.1f} s | {r['cpu']:.1f} s | "
                                f"{r['peakMB']:,.0f} MB |")
                path.unlink()
    text = (f"Long JSON line benchmark ({machine()}, "
            f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end): "
            f"`python benchmarks/bench_jsonl.py --mib {args.mib} --whole-mib {args.whole_mib}`\n\n"
            "| long line's bulk | file | way | wall time | CPU time | peak memory added |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n\n"
            "Both ways give the same digest where both ran (checked). `values`: a list of floats and a list of\n"
            "short strings; `string`: one string (with `\\u00e9` and `\\\"` escapes). A string that runs past a\n"
            "1 MiB piece of the line is decoded apart from the parser, in pieces, to a temporary file, so one\n"
            "string costs bounded memory (547 MB for 200 MiB when the parser handed it over whole); many values\n"
            "cost the parser's buffers and a batch of values per position, whatever the line's length.\n"
            "Spill files (about the encoded size of the data, a long string once more) go to the temporary folder.\n")
    return report(args.out, text)


if __name__ == "__main__":
    raise SystemExit(main())
