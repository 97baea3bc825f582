"""The ``ContentHashTransformer`` in front of another transport never drops an event: a dataset it cannot read (an S3
object whose request is refused or cannot be made, a relative name in namespace ``file``) is passed on as given with a
warning naming it, and the event reaches the inner transport with every dataset it could read hashed."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde
from openlineage.client.transport.transform import TransformConfig, TransformTransport

from prov_common.hashing import hash_path


def _through_transform(tmp_path: Path, odd: InputDataset) -> dict:
    """Emit, through the ``transform`` transport around a ``file`` one, a COMPLETE event naming ``odd`` and a local
    file; the event the inner transport wrote."""
    (tmp_path / "ok.csv").write_text("a\n1\n")
    return _emitted(tmp_path, inputs=[odd], outputs=[OutputDataset(namespace="file", name=str(tmp_path / "ok.csv"))])


@pytest.mark.parametrize(("fault", "said"), [
    ("403 AccessDenied", "AccessDenied"),
    ("no credentials", "Unable to locate credentials"),
    ("closed", "Could not connect to the endpoint URL"),
])
def test_an_s3_input_that_cannot_be_read_is_passed_on(tmp_path, s3_fault, monkeypatch, caplog, fault, said):
    """botocore's errors (a refused GET, no credentials, an endpoint down) were raised out of the transformer, so the
    transform transport dropped the whole event: Marquez (or Kafka, or a file) never had the run's COMPLETE."""
    bucket = s3_fault("closed" if fault == "no credentials" else fault).split("/")[2]
    if fault == "no credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with caplog.at_level(logging.WARNING, logger="prov_common.lineage.enrich"):
        written = _through_transform(tmp_path, InputDataset(namespace=f"s3://{bucket}", name="raw/users.csv"))
    assert written["inputs"] == [{"namespace": f"s3://{bucket}", "name": "raw/users.csv", "facets": {}, "inputFacets": {}}]
    assert written["outputs"][0]["facets"]["version"]["datasetVersion"] == hash_path(tmp_path / "ok.csv").digest
    [warning] = caplog.messages
    assert warning.startswith(f"tdprov: no content digest for s3://{bucket}/raw/users.csv (") and said in warning, warning
    assert "Fix: " in warning and warning.endswith("); the event goes on without one"), warning


def test_a_relative_file_name_is_passed_on(tmp_path, caplog):
    """A producer naming a file by a relative path in namespace ``file`` made the naming raise ValueError before any
    read, out of the transformer: the event was dropped."""
    with caplog.at_level(logging.WARNING, logger="prov_common.lineage.enrich"):
        written = _through_transform(tmp_path, InputDataset(namespace="file", name="data/raw.csv"))
    assert written["inputs"] == [{"namespace": "file", "name": "data/raw.csv", "facets": {}, "inputFacets": {}}]
    assert written["outputs"][0]["facets"]["version"]["datasetVersion"] == hash_path(tmp_path / "ok.csv").digest
    assert caplog.messages == ["tdprov: no content digest for 'data/raw.csv' in namespace 'file' (relative path can't "
                               "be expressed as a file URI); the event goes on without one"]


@pytest.mark.parametrize(("field", "value", "said"), [
    ("namespace", None, "its namespace is null, not a string"),
    ("name", 5, "its name is 5, not a string"),
    ("namespace", {"bucket": "b"}, 'its namespace is {"bucket": "b"}, not a string'),
])
def test_a_dataset_named_by_no_string_is_passed_on(tmp_path, caplog, field, value, said):
    """openlineage-python does not check a dataset's namespace and name: another producer's None, number or object made
    the naming raise AttributeError out of the transformer, and the transform transport dropped the whole event."""
    named = {"namespace": "file", "name": "/data/raw.csv", field: value}
    with caplog.at_level(logging.WARNING, logger="prov_common.lineage.enrich"):
        written = _through_transform(tmp_path, InputDataset(**named))
    assert written["inputs"] == [{**{k: v for k, v in named.items() if v is not None}, "facets": {}, "inputFacets": {}}]
    assert written["outputs"][0]["facets"]["version"]["datasetVersion"] == hash_path(tmp_path / "ok.csv").digest
    assert caplog.messages == ["tdprov: no content digest for inputs[0] of run 018cc251-f400-7e09-851b-637cdaa232ae "
                               f"({said}); the event goes on without one"]


def test_an_output_named_by_no_string_is_passed_on(tmp_path, caplog):
    """An output whose name is no string is left as given, with one warning, and the inputs are hashed still."""
    (tmp_path / "in.csv").write_text("a\n2\n")
    with caplog.at_level(logging.WARNING, logger="prov_common.lineage.enrich"):
        written = _emitted(tmp_path, inputs=[InputDataset(namespace="file", name=str(tmp_path / "in.csv"))],
                           outputs=[OutputDataset(namespace="file", name=str(tmp_path / "in.csv")),
                                    OutputDataset(namespace="file", name=["a"])])  # type: ignore[arg-type]
    assert written["outputs"][1] == {"namespace": "file", "name": ["a"], "facets": {}, "outputFacets": {}}
    assert written["outputs"][0]["facets"]["version"]["datasetVersion"] == hash_path(tmp_path / "in.csv").digest
    assert caplog.messages == ["tdprov: no content digest for outputs[1] of run 018cc251-f400-7e09-851b-637cdaa232ae "
                               '(its name is ["a"], not a string); the event goes on without one']


def _emitted(tmp_path: Path, **given: object) -> dict:
    """Emit, through the ``transform`` transport around a ``file`` one, a COMPLETE event with ``given`` fields set as
    another producer sets them, unchecked; the event the inner transport wrote."""
    out = tmp_path / "events.jsonl"
    transport = TransformTransport(TransformConfig.from_dict({
        "type": "transform", "transformer_class": "prov_common.lineage.enrich.ContentHashTransformer",
        "transport": {"type": "file", "log_file_path": str(out), "append": True}}))
    event = RunEvent(eventType=RunState.COMPLETE, eventTime="2026-01-01T00:00:01Z",
                     run=Run(runId="018cc251-f400-7e09-851b-637cdaa232ae"), job=Job(namespace="default", name="x.t"),
                     producer="https://example.invalid/p", **given)  # type: ignore[arg-type]
    transport.emit(event)
    return json.loads(out.read_text())


@pytest.mark.parametrize(("side", "value", "said"), [
    ("inputs", "in", "inputs is of type str, not a list"),
    ("outputs", {"a": 1}, "outputs is of type dict, not a list"),
    ("inputs", InputDataset(namespace="file", name="/data/raw.csv"), "inputs is of type InputDataset, not a list"),
])
def test_datasets_not_in_a_list_are_passed_on(tmp_path, caplog, side, value, said):
    """A single dataset given as the inputs (not in a list) raised TypeError out of the transformer: the event was
    dropped; a string or a dict was read item by item, each item named as a dataset without a namespace."""
    with caplog.at_level(logging.WARNING, logger="prov_common.lineage.enrich"):
        written = _emitted(tmp_path, **{side: value})
    assert written[side] == (value if isinstance(value, (str, dict)) else json.loads(Serde.to_json(value)))
    assert caplog.messages == [f"tdprov: no content digest for the {side} of run 018cc251-f400-7e09-851b-637cdaa232ae "
                               f"({said}); the event goes on without one"]


def test_an_entry_that_is_no_dataset_is_passed_on(tmp_path, caplog):
    """An entry of the inputs that is a plain object, not a dataset, is named as such, not as a dataset whose namespace
    and name are null."""
    (tmp_path / "ok.csv").write_text("a\n1\n")
    with caplog.at_level(logging.WARNING, logger="prov_common.lineage.enrich"):
        written = _emitted(tmp_path, inputs=[{"namespace": "file", "name": str(tmp_path / "ok.csv")},
                                             InputDataset(namespace="file", name=str(tmp_path / "ok.csv"))])
    assert written["inputs"][0] == {"namespace": "file", "name": str(tmp_path / "ok.csv")}
    assert written["inputs"][1]["facets"]["version"]["datasetVersion"] == hash_path(tmp_path / "ok.csv").digest
    assert caplog.messages == ["tdprov: no content digest for inputs[0] of run 018cc251-f400-7e09-851b-637cdaa232ae "
                               "(it is of type dict, not a dataset); the event goes on without one"]


def test_facets_that_are_no_object_are_passed_on(tmp_path, caplog):
    """A dataset whose facets were a list, not an object, had them replaced by tdprov's own: the producer's facets were
    gone from the event the inner transport got, without a word."""
    (tmp_path / "ok.csv").write_text("a\n1\n")
    given = [{"note": "kept"}]
    with caplog.at_level(logging.WARNING, logger="prov_common.lineage.enrich"):
        written = _emitted(tmp_path, inputs=[InputDataset(namespace="file", name=str(tmp_path / "ok.csv"),
                                                          facets=given)])  # type: ignore[arg-type]
    assert written["inputs"] == [{"namespace": "file", "name": str(tmp_path / "ok.csv"), "facets": given,
                                  "inputFacets": {}}]
    assert caplog.messages == [f"tdprov: no content digest for {(tmp_path / 'ok.csv').as_uri()} (its facets are of type list, not "
                               "an object: they are kept as given); the event goes on without one"]
