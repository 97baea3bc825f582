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


def test_two_steps_of_one_run_writing_one_path_are_both_recorded_and_named_in_a_warning(tmp_path: Path) -> None:
    """Two steps of one Dagster run wrote one file through record(): two versions, and nothing said that the version
    the run's first step made was overwritten within the run. Both are still recorded as they were; the second step's
    log now names both steps, the run and the file."""
    import logging

    path = tmp_path / "orders.parquet"

    @asset
    def first(context, provenance: ProvenanceResource) -> MaterializeResult:  # type: ignore[no-untyped-def]
        BEFORE.to_parquet(path)
        return MaterializeResult(metadata=provenance.record(outputs=[str(path)], context=context).metadata)

    @asset(deps=[first])
    def second(context, provenance: ProvenanceResource) -> MaterializeResult:  # type: ignore[no-untyped-def]
        AFTER.to_parquet(tmp_path / "next.parquet")
        (tmp_path / "next.parquet").replace(path)
        return MaterializeResult(metadata=provenance.record(outputs=[str(path)], context=context).metadata)

    store = tmp_path / "store"
    with DagsterInstance.ephemeral() as instance:
        result = materialize([first, second], instance=instance, resources={"provenance": ProvenanceResource(store=str(store))})
        assert result.success
        said = [(e.step_key, e.user_message) for e in instance.all_logs(result.run_id)
                if e.level == logging.WARNING and "also wrote" in (e.user_message or "")]
    delivered(store)
    assert len(said) == 1, said
    step, message = said[0]
    assert step == "second" and "'first'" in message and str(path) in message and result.run_id in message, message
    opened = open_store(str(store))
    runs = {s.job_name: s for s in list_bundles(opened)}
    written = {name: [(o.name, o.version) for o in s.outputs] for name, s in runs.items()}
    name = str(path)
    assert [n for n, _ in written["first"]] == [name] and [n for n, _ in written["second"]] == [name]
    assert written["first"] != written["second"]
    assert dict(written["first"])[name] in message


def _rewrite_in_place(path: Path) -> None:
    """What a cleaning step does to a file it owns: read it, drop a row, write it back where it was."""
    pd.read_csv(path).iloc[:2].to_csv(path, index=False)


def _in_place_run(tmp_path: Path, step) -> tuple[list, dict, str, str]:  # type: ignore[no-untyped-def]
    """Materialize ``step`` (which rewrites ``orders.csv`` in place) and return its warnings, its run's COMPLETE event
    and the digests of the file before and after (``tdprov hash``'s, hashed on their own)."""
    import logging

    from prov_common.hashing.targets import hash_dataset

    path = tmp_path / "orders.csv"
    BEFORE.to_csv(path, index=False)
    copy = tmp_path / "copy" / "orders.csv"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    before = hash_dataset(str(copy), cache=False, file_sha256=True).digest
    store = tmp_path / "store"
    with DagsterInstance.ephemeral() as instance:
        result = materialize([step], instance=instance, resources={"provenance": ProvenanceResource(store=str(store))})
        assert result.success
        said = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    delivered(store)
    after = hash_dataset(str(path), cache=False, file_sha256=True).digest
    assert before != after
    opened = open_store(str(store))
    [sealed] = list_bundles(opened)
    events = [json.loads(line) for line in read_bundle(opened, sealed.run_id).files["events.jsonl"].splitlines()]
    return said, next(e for e in events if e["eventType"] == "COMPLETE"), before, after


def test_a_file_rewritten_in_place_and_given_as_input_and_output_of_one_call_is_named_in_a_warning(tmp_path: Path) -> None:
    """record(inputs=[path], outputs=[path]) after the step rewrote the file hashes both then: the version recorded as
    read is the one written, which the step never read. It is still recorded so (nothing dropped), and a warning names
    the file, the digest and the fix: provenance.read(path) where the step reads it."""
    path = tmp_path / "orders.csv"

    @asset
    def cleaned(context, provenance: ProvenanceResource) -> MaterializeResult:  # type: ignore[no-untyped-def]
        _rewrite_in_place(path)
        return MaterializeResult(metadata=provenance.record(inputs=[str(path)], outputs=[str(path)], context=context).metadata)

    said, complete, _, after = _in_place_run(tmp_path, cleaned)
    [input_digest] = [d for _, _, d in _digest(complete, "inputs")]
    [output_digest] = [d for _, _, d in _digest(complete, "outputs")]
    assert input_digest == output_digest == after
    warned = [m for m in said if "both an input and an output" in (m or "")]
    assert len(warned) == 1, said
    assert str(path) in warned[0] and after in warned[0] and "provenance.read(" in warned[0], warned[0]


def test_a_file_read_through_provenance_read_before_it_is_rewritten_in_place_is_the_version_read(tmp_path: Path) -> None:
    """provenance.read(path) hashes the file where the step reads it: the run's input is the version before the step
    rewrote it, its output the one after, and no warning is logged."""
    path = tmp_path / "orders.csv"
    recorded = {}

    @asset
    def cleaned(context, provenance: ProvenanceResource) -> MaterializeResult:  # type: ignore[no-untyped-def]
        before = provenance.read(str(path))
        _rewrite_in_place(path)
        done = provenance.record(inputs=[before], outputs=[str(path)], context=context)
        recorded["digests"], recorded["read"] = done.digests, before.digest
        return MaterializeResult(metadata=done.metadata)

    said, complete, before, after = _in_place_run(tmp_path, cleaned)
    assert _digest(complete, "inputs") == [("file", str(path), before)]
    assert _digest(complete, "outputs") == [("file", str(path), after)]
    assert recorded["read"] == before
    assert recorded["digests"] == {f"{path} (read)": before, str(path): after}
    assert not [m for m in said if "both an input and an output" in (m or "")], said


def test_a_read_version_given_as_an_output_is_refused_naming_the_fix(tmp_path: Path) -> None:
    """A version provenance.read() hashed is what a step read: record() refuses it among outputs, before any event."""
    import pytest

    from prov_common.errors import BadInputError

    path = tmp_path / "orders.csv"
    BEFORE.to_csv(path, index=False)
    store = tmp_path / "store"
    provenance = ProvenanceResource(store=str(store))
    with pytest.raises(BadInputError) as raised:
        provenance.record(outputs={"orders": provenance.read(str(path))})
    assert "output orders is a version read (provenance.read())" in str(raised.value)
    assert "inputs=[...]" in raised.value.fix
    assert not list(list_bundles(open_store(str(store))))


def test_a_dataframe_read_or_recorded_as_an_input_without_a_name_is_refused_naming_its_own_call(tmp_path: Path) -> None:
    """A DataFrame given to provenance.read() without ``name=``, or among record()'s inputs without a name, was refused
    with the fix to pass it in record(outputs={...}): neither the call it was given to nor the side it was given on.
    Each now names its own call: read()'s ``name=``, record()'s ``inputs={...}`` (outputs keep their fix)."""
    import pytest

    from prov_common.errors import BadInputError

    store = tmp_path / "store"
    provenance = ProvenanceResource(store=str(store))
    fixes = {}
    for call, given in (("read", lambda: provenance.read(BEFORE)), ("inputs", lambda: provenance.record(inputs=[BEFORE])),
                        ("outputs", lambda: provenance.record(outputs=[AFTER]))):
        with pytest.raises(BadInputError, match="DataFrame was given without a name") as raised:
            given()
        fixes[call] = raised.value.fix
    assert fixes == {"read": "name it: provenance.read(df, name='features/train')",
                     "inputs": "pass DataFrames in a mapping: record(inputs={'features/train': df})",
                     "outputs": "pass DataFrames in a mapping: record(outputs={'features/train': df})"}
    assert not store.exists() or not list(list_bundles(open_store(str(store))))
