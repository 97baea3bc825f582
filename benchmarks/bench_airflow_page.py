"""The Airflow bundles page of a large DAG run: the time to verify and render it, whole and a page at a time.

    python benchmarks/bench_airflow_page.py [--tries 2000] [--s3] [--out benchmarks/results/airflow_page.md]

Seals one DAG run's bundle and one bundle per mapped task try (``--tries``, each a START and COMPLETE event with one
input and one output, signed) straight into a local store (and, with ``--s3``, a bucket on moto's S3 server), then
times what the page's routes do after reading the run's keys from the metadata database (which is left out: a query):
verify the bundles and render the HTML page, or the ``/api`` JSON; once for every bundle of the DAG run (the page as it
was) and once for its first page of ``PAGE_SIZE`` bundles. Prints a Markdown report; the load average is part of it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from bundle_support import dataset, event  # noqa: E402 - the OpenLineage events the tests seal
from harness import OUT_HELP, machine, report, s3_stores, start_moto  # noqa: E402

DAG_ID = "bench_mapped"
NAMESPACE = "tests"  # the job namespace of bundle_support's events


def _events(run_id: str, job: str) -> list[dict]:
    raw, clean = (dataset("s3://lake", name) for name in ("raw/part.parquet", "clean/part.parquet"))
    return [event(run_id, kind, f"2026-03-01T10:00:0{i}.000Z", inputs=[raw], outputs=[clean] if i else None, job=job)
            for i, kind in enumerate(("START", "COMPLETE"))]


def sealed_run(tries: int, root: Path, uris: list[str]) -> tuple[list, object]:
    """The run keys of a DAG run of ``tries`` mapped task tries, each sealed into every store of ``uris``, and the trust."""
    from prov_common.bundle import build_bundle, write_bundle
    from prov_common.signing import TrustStore
    from prov_common.signing.keyfiles import load_public_key, load_signing_key, write_keypair
    from prov_common.store import open_store

    from prov_airflow.ui.runs import RunKey

    private, public = write_keypair(root / "bench.key")
    signer, stores = load_signing_key(private), [open_store(uri) for uri in uris]
    keys = [RunKey(NAMESPACE, DAG_ID, str(uuid.uuid4()))]
    keys += [RunKey(NAMESPACE, f"{DAG_ID}.shard", str(uuid.uuid4()), "shard", i, 1, (keys[0].run_id,)) for i in range(tries)]
    for key in keys:
        bundle = build_bundle(_events(key.run_id, key.job_name), None, signer, sealed_at=datetime(2026, 3, 1, 10, 1, tzinfo=timezone.utc))
        for store in stores:
            write_bundle(store, bundle)
    return keys, TrustStore.of([load_public_key(public)])


def timed(keys: list, uri: str, trust: object, limit: int, how: str) -> tuple[float, int]:
    """Seconds to verify ``limit`` bundles of ``keys`` from the first and render them as ``how`` ("html" or "json"); the
    bytes rendered."""
    from prov_common.store import open_store

    from prov_airflow.ui.page import render
    from prov_airflow.ui.runs import verified_page

    started = time.perf_counter()
    page = verified_page(DAG_ID, "manual__bench", keys, open_store(uri), trust, uri, 0, limit)
    assert all(b.verified for b in page.bundles), [b.findings for b in page.bundles if not b.verified][:1]
    body = render(page) if how == "html" else json.dumps(page.to_dict())
    return time.perf_counter() - started, len(body.encode())


def main() -> int:
    from prov_common.text import counted

    from prov_airflow.ui.runs import PAGE_SIZE

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tries", type=int, default=2000)
    parser.add_argument("--s3", action="store_true", help="also on moto's S3 server (in this process)")
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    os.environ["TDPROV_STORE_FSYNC"] = "0"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        uris = [str(Path(tmp) / "store")]
        if args.s3:
            start_moto()
            uris.append(s3_stores()())
        started = time.perf_counter()
        keys, trust = sealed_run(args.tries, Path(tmp), uris)
        sealing = time.perf_counter() - started
        first = min(PAGE_SIZE, len(keys))  # a DAG run of fewer bundles than a page has them all on its first
        for uri in uris:
            where = "S3 (moto)" if uri.startswith("s3://") else "local"
            for how, route in (("html", "page"), ("json", "/api JSON")):
                whole, whole_bytes = timed(keys, uri, trust, len(keys), how)
                page, page_bytes = timed(keys, uri, trust, first, how)
                rows.append(f"| {where} | {route} | {whole:.1f} s ({whole_bytes / 1e6:.1f} MB) | {page:.2f} s "
                            f"({page_bytes / 1e3:.0f} kB) | {whole / page:.0f}x |")
    text = "\n".join([
        f"# Airflow bundles page of a DAG run of {args.tries:,} mapped task tries ({len(keys):,} bundles)",
        "",
        f"Machine: {machine()}, shared with other jobs (load average {load_before:.1f} at the start of the run, "
        f"{os.getloadavg()[0]:.1f} at its end); {len(keys):,} bundles sealed in {sealing:.0f} s.",
        "",
        f"| store | route | every bundle (the page as it was) | first page ({counted(first, 'bundle')}) | less |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Each figure is one view: the bundles verified as 'tdprov verify RUN_ID' checks them (signature, manifest, "
        "events, index entry) and the page or JSON rendered; the run's keys come from the metadata database (not timed). "
        "A page's time grows with its size, not with the DAG run's.",
        "",
        f"Reproduce: `python benchmarks/bench_airflow_page.py --tries {args.tries}{' --s3' if args.s3 else ''}`",
        "",
    ])
    return report(args.out, text)


if __name__ == "__main__":
    sys.exit(main())
