"""A dataset that one ``ProvenanceResource.record`` call both reads and writes under one name is two versions, the
one read and the one written (real ``materialize``): the bundle's events hold both, and ``digests`` and the
materialization's ``tdprov/digest/...`` metadata show both, the version read under ``<name> (read)``."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, MaterializeResult, asset, materialize

from prov_common.bundle import list_bundles, read_bundle
from prov_common.hashing import hash_dataframe
from prov_common.store import open_store
from prov_dagster import ProvenanceResource

from dagster_support import delivered

BEFORE = pd.DataFrame({"v": [1, 2, 3]})
AFTER = pd.DataFrame({"v": [1, 2]})


def _digest(event: dict, side: str) -> list[tuple[str, str, str]]:
    return [(d["namespace"], d["name"], d["facets"]["tdprov_contentHash"]["digest"]) for d in event.get(side, [])]


def test_a_name_read_and_written_by_one_call_shows_both_versions(tmp_path: Path) -> None:
    recorded = {}

    @asset
    def cleaned(context, provenance: ProvenanceResource) -> MaterializeResult:  # type: ignore[no-untyped-def]
        done = provenance.record(inputs={"x": BEFORE}, outputs={"x": AFTER}, context=context)
        recorded["digests"] = done.digests
        return MaterializeResult(metadata=done.metadata)

    store = tmp_path / "store"
    with DagsterInstance.ephemeral() as instance:
        result = materialize([cleaned], instance=instance, resources={"provenance": ProvenanceResource(store=str(store))})
        assert result.success
        metadata = result.asset_materializations_for_node("cleaned")[0].metadata
    delivered(store)
    read, written = hash_dataframe(BEFORE).digest, hash_dataframe(AFTER).digest
    assert read != written
    assert recorded["digests"] == {"x (read)": read, "x": written}
    shown = {k: v.value for k, v in metadata.items() if k.startswith("tdprov/digest/")}
    assert shown == {"tdprov/digest/x (read)": read, "tdprov/digest/x": written}
    opened = open_store(str(store))
    [sealed] = list_bundles(opened)
    events = [json.loads(line) for line in read_bundle(opened, sealed.run_id).files["events.jsonl"].splitlines()]
    complete = next(e for e in events if e["eventType"] == "COMPLETE")
    assert _digest(complete, "inputs") == [("inmemory://", "x", read)]
    assert _digest(complete, "outputs") == [("inmemory://", "x", written)]
