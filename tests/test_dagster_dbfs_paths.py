"""A Databricks file written as Databricks writes it, ``dbfs:/mnt/x.csv``, in a Dagster asset (real ``materialize``):
the dataset ``("dbfs", "/mnt/x.csv")`` in the events and the PROV, a URI in the Dagster UI's ``tdprov/data``, and,
where no opener for ``dbfs`` is registered, a refusal that names the form written and the fix."""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import pandas as pd
import pytest
from dagster import DagsterInstance, MaterializeResult, UrlMetadataValue, asset, materialize

from prov_common.bundle import list_bundles, read_bundle
from prov_common.hashing import files as hashing_files, hash_path
from prov_common.store import open_store
from prov_dagster import ProvenanceResource

from dagster_support import delivered, run_failure

RAW, CURATED = "dbfs:/mnt/raw/prices.csv", "dbfs:/mnt/curated/prices.csv"


@asset
def prices(context, provenance: ProvenanceResource) -> MaterializeResult:  # type: ignore[no-untyped-def]
    return MaterializeResult(metadata=provenance.record(inputs=[RAW], outputs=[CURATED], context=context).metadata)


@asset(deps=[prices])
def report(context, provenance: ProvenanceResource) -> MaterializeResult:  # type: ignore[no-untyped-def]
    return MaterializeResult(metadata=provenance.record(outputs={"report": pd.DataFrame({"n": [2]})}, context=context).metadata)


def _workspace(tmp_path: Path) -> Path:
    """A folder standing for the DBFS root: ``dbfs:/mnt/raw/prices.csv`` is ``<it>/mnt/raw/prices.csv``."""
    root = tmp_path / "workspace"
    for uri, body in ((RAW, b"sku,usd\na,1.5\n"), (CURATED, b"sku,usd\na,1.5\nb,2.0\n")):
        (root / uri.removeprefix("dbfs:/")).parent.mkdir(parents=True, exist_ok=True)
        (root / uri.removeprefix("dbfs:/")).write_bytes(body)
    return root


def test_a_dbfs_path_in_an_asset_is_the_databricks_file_in_events_prov_and_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``record(inputs=["dbfs:/mnt/raw/prices.csv"], outputs=["dbfs:/mnt/curated/prices.csv"])`` names both
    ``("dbfs", "/mnt/...")`` (the OpenLineage Airflow provider's name for that form) in the events and the PROV, each
    hashed from the bytes its opener gives; the Dagster UI showed ``tdprov/data`` as a local path, where it is the URI
    as written (a URL value, as an ``s3://`` location is); a step with ``deps=[prices]`` reads that dataset back."""
    root = _workspace(tmp_path)
    opened: list[str] = []

    def open_dbfs(uri: str) -> IO[bytes]:
        opened.append(uri)
        return open(root / uri.removeprefix("dbfs:/"), "rb")

    monkeypatch.setitem(hashing_files._OPENERS, "dbfs", open_dbfs)  # noqa: SLF001 - the opener a Databricks user registers
    store = tmp_path / "store"
    with DagsterInstance.ephemeral() as instance:
        result = materialize([prices, report], instance=instance, resources={"provenance": ProvenanceResource(store=str(store))})
        assert result.success
        metadata = result.asset_materializations_for_node("prices")[0].metadata
    delivered(store)
    raw = hash_path(str(root / "mnt/raw/prices.csv")).digest
    curated = hash_path(str(root / "mnt/curated/prices.csv")).digest
    assert raw != curated and set(opened) == {RAW, CURATED}

    assert isinstance(metadata["tdprov/data"], UrlMetadataValue) and metadata["tdprov/data"].value == CURATED
    assert metadata["tdprov/digest"].value == curated

    opened_store = open_store(str(store))
    bundles = {s.job_name: read_bundle(opened_store, s.run_id).files for s in list_bundles(opened_store)}
    assert set(bundles) == {"prices", "report"}
    events = {job: [json.loads(line) for line in files["events.jsonl"].splitlines()] for job, files in bundles.items()}

    def sides(job: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
        complete = next(e for e in events[job] if e["eventType"] == "COMPLETE")
        return tuple([(d["namespace"], d["name"], d["facets"]["tdprov_contentHash"]["digest"]) for d in complete.get(side, [])]
                     for side in ("inputs", "outputs"))  # type: ignore[return-value]

    assert sides("prices") == ([("dbfs", "/mnt/raw/prices.csv", raw)], [("dbfs", "/mnt/curated/prices.csv", curated)])
    assert sides("report")[0] == [("dbfs", "/mnt/curated/prices.csv", curated)]

    prov = json.loads(bundles["prices"]["prov.json"])
    datasets = {(e["tdprov:namespace"], e["tdprov:name"]) for e in prov["entity"].values()
                if e["prov:type"] == {"$": "tdprov:Dataset", "type": "xsd:QName"}}
    assert datasets == {("dbfs", "/mnt/raw/prices.csv"), ("dbfs", "/mnt/curated/prices.csv")}
    used = {prov["entity"][u["prov:entity"]]["prov:label"] for u in prov["used"].values()}
    assert used == {raw}


def test_a_dbfs_path_without_an_opener_is_refused_naming_the_form_written_and_the_fix(tmp_path: Path,
                                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With no opener registered for ``dbfs``, the step fails before any event, and the refusal said ``no reader for
    dbfs:// URIs`` of a path written ``dbfs:/``: it names the form written, the path, and the opener to register; no
    file of the working folder named ``dbfs:/...`` is read instead."""
    monkeypatch.delitem(hashing_files._OPENERS, "dbfs", raising=False)  # noqa: SLF001
    monkeypatch.chdir(tmp_path)
    decoy = tmp_path / RAW  # ./dbfs:/mnt/raw/prices.csv, a file of the working folder, is not the Databricks file
    decoy.parent.mkdir(parents=True)
    decoy.write_bytes(b"sku,usd\nz,0.0\n")
    store = tmp_path / "store"
    with DagsterInstance.ephemeral() as instance:
        result = materialize([prices], instance=instance, resources={"provenance": ProvenanceResource(store=str(store))},
                             raise_on_error=False)
    assert not result.success
    assert ("BadInputError: no reader for dbfs:/ URIs (dbfs:/mnt/raw/prices.csv). Fix: register one with "
            "prov_common.hashing.register_opener('dbfs', fn), or copy the file locally.") in run_failure(result)
    delivered(store)
    assert list(list_bundles(open_store(str(store)))) == []
