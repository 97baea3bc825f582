"""Helpers for the row-set and snapshot tests: a store that counts what a lookup reads, and the proof
verifier script of docs/verification.md, taken from the doc's text."""
from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Any


DOC = Path(__file__).resolve().parent.parent / "docs" / "verification.md"


def count_reads(store: Any) -> collections.Counter[str]:
    """Wrap a real store's ``get``/``get_range`` (local) or its S3 client (every GET request) and count
    per key: ``<key>`` bytes read and ``<key>#requests``."""
    counts: collections.Counter[str] = collections.Counter()
    client = getattr(store, "client", None)
    if client is not None:  # S3: count the GET requests that reach the server and the bytes they return
        prefix = store.prefix

        def remember(params: Any, context: Any, **_: Any) -> None:
            context["tdprov_key"] = str(params.get("Key", ""))[len(prefix):]

        def after(parsed: Any, context: Any, **_: Any) -> None:
            key = context.get("tdprov_key", "")
            counts[key + "#requests"] += 1
            counts[key] += int(parsed.get("ContentLength") or 0)

        client.meta.events.register("provide-client-params.s3.GetObject", remember)
        client.meta.events.register("after-call.s3.GetObject", after)
        return counts
    get, get_range = store.get, store.get_range

    def counted_get(key: str, limit: int | None = None) -> bytes:
        data = get(key, limit)
        counts[key + "#requests"] += 1
        counts[key] += len(data)
        return data

    def counted_range(key: str, start: int, length: int) -> bytes:
        data = get_range(key, start, length)
        counts[key + "#requests"] += 1
        counts[key] += len(data)
        return data

    store.get, store.get_range = counted_get, counted_range
    return counts


def verifier_script() -> str:
    """The standalone verifier of docs/verification.md (the Python block under "Row proofs")."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Row proofs"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/verification.md has no Python block under 'Row proofs'"
    return match.group(1)


def contains_cli(digest: str, record: dict, store_uri: str, capsys: Any) -> tuple[int, dict, str]:
    """``tdprov contains --json`` as a user runs it: exit code, the JSON answer (empty on an error), stderr."""
    from prov_common.cli import main

    code = main(["contains", digest, "--record", json.dumps(record), "--json", "--store", store_uri])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def mapped_rows(folder: Path, data: bytes) -> memoryview:
    """``data`` as ``row_set_of`` gives a row set: a read-only view of a file mapped whole (its name kept here)."""
    from prov_common.mapped import map_file

    path = folder / "rows.rowset"
    path.write_bytes(data)
    with open(path, "rb") as f:
        return map_file(f.fileno())


def resident(view: memoryview) -> int:
    """Bytes of the mapping that ``view`` starts (``mapped_rows``) resident in this process now (/proc/self/smaps)."""
    import numpy as np

    start = np.frombuffer(view, dtype=np.uint8).ctypes.data
    lines = iter(Path("/proc/self/smaps").read_text().splitlines())
    for line in lines:
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line) and int(line.split("-", 1)[0], 16) == start:
            return next(int(r.split()[1]) * 1024 for r in lines if r.startswith("Rss:"))
    raise AssertionError("the view's mapping is not in /proc/self/smaps")
