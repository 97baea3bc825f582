"""Each custom facet validates against the JSON Schema it points at, and that schema ships with the package."""
from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import attr
import jsonschema
import pandas as pd
import pandera.pandas as pa
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

import prov_common
from prov_common.hashing import FileDigest, hash_dataframe
from prov_common.lineage import (
    CUSTOM_FACETS,
    DatasetRef,
    build_run_event,
    collect_run_context,
    event_to_dict,
    schema_path,
)
from prov_common.quality import validate
from prov_common.store.snapshots import KeptSnapshot

SPEC = Path(prov_common.__file__).parent / "schemas" / "openlineage" / "OpenLineage.json"
SCHEMAS = Path(prov_common.__file__).parent / "schemas"


@pytest.fixture(scope="module")
def registry() -> Registry:
    resources = [json.loads(SPEC.read_text())]
    resources += [json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")]
    return Registry().with_resources((r["$id"], Resource.from_contents(r)) for r in resources)


def check(facet: dict, registry: Registry) -> None:
    Draft202012Validator({"$ref": facet["_schemaURL"]}, registry=registry).validate(facet)


@pytest.fixture(scope="module")
def event() -> dict:
    frame = pd.DataFrame({"x": [1, -1]}, index=pd.Index(["a", "b"], name="k"))
    digest = hash_dataframe(frame, granularity="row")
    schema = pa.DataFrameSchema({"x": pa.Column(int, pa.Check.gt(0)), "y": pa.Column(str)}, name="S")
    quality = validate(frame, schema)
    refs = [
        DatasetRef("s3://b", "t.parquet", digest=digest, quality=quality, samples_file="s.parquet", row_digests_file="r.parquet"),
        DatasetRef("s3://b", "m.bin", digest=FileDigest("blake3:" + "4" * 64, 9),
                   snapshot=KeptSnapshot("blake3:" + "4" * 64, "objects/blake3/" + "4" * 64, 9)),
    ]
    ctx = collect_run_context(orchestrator="dagster", parameters={"n": 1, "nested": {"token": "t"}}, executor="in_process")
    return event_to_dict(build_run_event("COMPLETE", run_id=str(uuid.uuid4()), job_name="j", inputs=refs, outputs=refs, context=ctx))


def custom_facets(event: dict) -> list[tuple[str, dict]]:
    found = [(k, f) for k, f in event["run"]["facets"].items() if k in CUSTOM_FACETS]
    for side in ("inputs", "outputs"):
        for ds in event[side]:
            found += [(k, f) for k, f in ds["facets"].items() if k in CUSTOM_FACETS]
    return found


def test_schemas_are_shipped_and_well_formed() -> None:
    names = {cls.__name__ for cls in CUSTOM_FACETS.values()}
    assert {p.stem for p in SCHEMAS.glob("*.json")} >= names
    for name in names:
        schema = json.loads((SCHEMAS / f"{name}.json").read_text())
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith(f"/common/schemas/{name}.json")
        assert name in schema["$defs"]
        base = schema["$defs"][name]["allOf"][0]["$ref"]
        assert base.startswith("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/") and base.endswith(("DatasetFacet", "RunFacet"))


def test_each_facet_and_its_shipped_schema_name_the_same_fields() -> None:
    """A field the facet writes and its schema does not state is neither typed nor described for other readers (the
    schemas allow more properties): ``tdprov_runContext.mappingKey`` was written before its schema named it."""
    for cls in CUSTOM_FACETS.values():
        schema = json.loads((SCHEMAS / f"{cls.__name__}.json").read_text())
        stated = set(schema["$defs"][cls.__name__]["allOf"][1]["properties"])
        assert {f.name for f in attr.fields(cls) if not f.name.startswith("_")} == stated, cls.__name__


def test_every_emitted_custom_facet_validates_against_its_shipped_schema(event: dict, registry: Registry) -> None:
    facets = custom_facets(event)
    # audit runs only (test_airflow_audit_facet.py); Airflow task tries with unwritten outlets (test_airflow_outlets_written.py)
    assert {k for k, _ in facets} == set(CUSTOM_FACETS) - {"tdprov_auditCheckpoint", "tdprov_outlets"}
    for key, facet in facets:
        assert facet["_producer"] == prov_common.PRODUCER
        assert facet["_schemaURL"].endswith(f"/{CUSTOM_FACETS[key].__name__}.json#/$defs/{CUSTOM_FACETS[key].__name__}")
        path = schema_path(facet["_schemaURL"])
        assert path.is_file() and path.parent == SCHEMAS
        check(facet, registry)


@pytest.mark.parametrize(
    ("key", "mutate"),
    [
        ("tdprov_contentHash", lambda f: f.update(digest="md5:abc")),
        ("tdprov_contentHash", lambda f: f.update(kind="blob")),
        ("tdprov_contentHash", lambda f: f.pop("algorithm")),
        ("tdprov_contentHash", lambda f: f.update(bytes=-1)),  # may be left out (a registered source's table), never negative
        ("tdprov_pandera", lambda f: f.update(failureCount=-1)),
        ("tdprov_pandera", lambda f: f["checks"][0].pop("passed")),
        ("tdprov_pandera", lambda f: f.pop("schemaDigest")),
        ("tdprov_runContext", lambda f: f.update(libraries={"pandas": 3})),
        ("tdprov_runContext", lambda f: f.pop("host")),
        ("tdprov_runContext", lambda f: f.update(_producer=5)),
        ("tdprov_runContext", lambda f: f.update(mappingKey=["a"])),
    ],
)
def test_schemas_reject_broken_facets(event: dict, registry: Registry, key: str, mutate) -> None:
    facet = copy.deepcopy(next(f for k, f in custom_facets(event) if k == key))
    check(facet, registry)
    mutate(facet)
    with pytest.raises(jsonschema.ValidationError):
        check(facet, registry)
