"""A small demo of the core: hash a sample dataset, validate it, record its lineage, print its PROV.

Run with ``python -m example_pipelines.demo [--store DIR]``. Uses scikit-learn's bundled wine dataset
(no download), writes one signed lineage bundle to the store (default ``./.tdprov``) and prints the
run's W3C PROV document in PROV-N.
"""
from __future__ import annotations

import argparse
import sys
import uuid

import pandas as pd
import pandera.pandas as pa

from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.config import Settings
from prov_common.hashing import hash_dataframe
from prov_common.lineage import DatasetRef, build_run_event, collect_run_context, event_to_dict
from prov_common.quality import validate
from prov_common.w3cprov import events_to_document, serialize

WINE_SCHEMA = pa.DataFrameSchema(
    {
        "alcohol": pa.Column(float, pa.Check.in_range(8.0, 16.0)),
        "malic_acid": pa.Column(float, pa.Check.ge(0.0)),
        "target": pa.Column(int, pa.Check.isin([0, 1, 2])),
    },
    name="wine",
)


def load_wine() -> pd.DataFrame:
    """The wine recognition dataset that ships inside scikit-learn."""
    from sklearn.datasets import load_wine as sklearn_wine

    return sklearn_wine(as_frame=True).frame


def main(argv: list[str] | None = None) -> int:
    """Hash, validate and record the sample dataset; print its PROV-N."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None, help="store URI (default: $TDPROV_STORE or ./.tdprov)")
    args = parser.parse_args(argv)
    settings = Settings.from_env(store=args.store)

    frame = load_wine()
    digest = hash_dataframe(frame)
    quality = validate(frame, WINE_SCHEMA)
    print(f"{digest.digest}  wine ({digest.rows} rows, {len(digest.columns)} columns)", file=sys.stderr)
    print(f"pandera '{quality.schema_name}': {'passed' if quality.passed else 'FAILED'}", file=sys.stderr)

    source = DatasetRef.from_uri("sklearn://datasets/wine")
    output = DatasetRef.from_uri(f"{settings.store}/demo/wine.parquet", digest=digest, quality=quality)
    run_id = str(uuid.uuid4())
    context = collect_run_context(orchestrator="tdprov-demo", parameters={"dataset": "wine"})
    events = [
        build_run_event("START", run_id=run_id, job_name="demo.ingest_wine", inputs=[source], context=context),
        build_run_event("COMPLETE", run_id=run_id, job_name="demo.ingest_wine", inputs=[source], outputs=[output]),
    ]
    transport = ProvenanceTransport(ProvenanceConfig.from_dict({"store": settings.store}))
    for event in events:
        transport.emit(event)
    print(f"lineage bundle for run {run_id} written to {settings.store}", file=sys.stderr)
    print(serialize(events_to_document([event_to_dict(e) for e in events]), "provn").decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
