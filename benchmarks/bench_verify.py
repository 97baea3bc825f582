"""``verify_bundle`` of a bundle with a large row set: peak memory and time, attachment streamed
(8 MiB ranged reads, one pass) against read whole (what verification did before).

Seals one bundle whose attachment ``rows/<dataset>.rows.parquet`` is ``--mib`` MiB of incompressible
bytes (an 83 MiB row set is what a 10-million-row version at row granularity gets) into a local store
and, with ``--s3``, into a bucket on moto's S3 server. Each verification runs in a fresh process
(``peak_memory.measure``: growth of the peak resident size while it runs). Prints a Markdown report;
the load average is part of it.

    python benchmarks/bench_verify.py [--mib 83] [--s3] [--out benchmarks/results/verify.md]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from bundle_support import event  # noqa: E402 - the OpenLineage events the tests seal
from peak_memory import measure  # noqa: E402
from harness import OUT_HELP, machine, report, s3_stores, start_moto  # noqa: E402

IMPORTS = """
import types
from prov_common.bundle import verify
from prov_common.hashing.model import FileDigest
from prov_common.hashing.raw import blake3_digest
from prov_common.signing import TrustStore
from prov_common.signing.keyfiles import load_public_key
from prov_common.store import open_store
"""

BODY = """
store = open_store(path)
if how == "whole":  # verification as it was: the attachment read with one get, then hashed
    verify.hash_stored = lambda s, k, **_: FileDigest(blake3_digest(data := s.get(k)), len(data))
report = verify.verify_bundle(store, {run_id!r}, TrustStore.of([load_public_key({public!r})]))
assert report.ok, report.findings
td = types.SimpleNamespace(digest="verified", rows=report.checked)
"""


def sealed_stores(mib: int, root: Path, s3: bool) -> tuple[str, str, list[str]]:
    """The run id, the public key file and the store URIs holding one bundle with a ``mib`` MiB row set."""
    from prov_common.bundle import build_bundle, rows_path, write_bundle
    from prov_common.signing.keyfiles import load_signing_key, write_keypair
    from prov_common.store import open_store

    private, public = write_keypair(root / "bench.key")
    run_id = str(uuid.uuid4())
    events = [event(run_id, kind, f"2026-03-01T10:00:0{i}.000Z", job="rows") for i, kind in enumerate(("START", "COMPLETE"))]
    bundle = build_bundle(events, {rows_path("file", "train"): os.urandom(mib << 20)}, load_signing_key(private),
                          sealed_at=datetime(2026, 3, 1, 10, 1, tzinfo=timezone.utc))
    uris = [str(root / "store")]
    if s3:
        start_moto()  # serves the measuring processes until this one exits
        uris.append(s3_stores()())
    for uri in uris:
        write_bundle(open_store(uri), bundle)
    return run_id, str(public), uris


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=83, help="size of the row set (MiB)")
    parser.add_argument("--s3", action="store_true", help="also verify on moto's S3 server")
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TDPROV_STORE_FSYNC"] = "0"
        run_id, public, uris = sealed_stores(args.mib, Path(tmp), args.s3)
        body = BODY.format(run_id=run_id, public=public)
        rows = []
        for uri in uris:
            where = "S3 (moto on localhost)" if uri.startswith("s3://") else "local folder"
            for how, label in (("stream", "streamed, 8 MiB ranged reads"), ("whole", "read whole (before)")):
                got = measure(IMPORTS, body, uri, how)
                rows.append(f"| {where} | {label} | {got['peakMB']:.0f} | {got['seconds']:.2f} | {got['cpu']:.2f} |")
    text = f"""# `verify_bundle` of a bundle with a {args.mib} MiB row set

`python benchmarks/bench_verify.py --mib {args.mib}{' --s3' if args.s3 else ''}` on {machine()};
load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.

| store | attachment | peak memory growth (MB) | wall s | CPU s |
|---|---|---:|---:|---:|
{chr(10).join(rows)}

Each row is one verification in a fresh process; memory is the growth of its peak resident size.
"""
    report(args.out, text)


if __name__ == "__main__":
    main()
