"""One local file, one name: however a path or ``file:`` URI is spelled, the dataset tdprov names is the file whose
bytes it hashes, in the naming, the recorders, ``tdprov hash`` and the ``ContentHashTransformer``."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, MaterializeResult, asset, materialize
from openlineage.client.event_v2 import Job, OutputDataset, Run, RunEvent, RunState

from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main
from prov_common.errors import BadInputError
from prov_common.hashing import hash_path
from prov_common.hashing.targets import hash_dataset
from prov_common.lineage import dataset_from_uri
from prov_common.lineage.naming import file_dataset
from prov_common.lineage.enrich import ContentHashTransformer
from prov_common.store import open_store
from prov_common.w3cprov.identity import location_of_ref
from prov_dagster import ProvenanceResource


@pytest.fixture
def dotdot(tmp_path: Path) -> Path:
    """``lnk -> deep/real``: ``lnk/../data.csv`` opens ``deep/data.csv``, not the ``data.csv`` beside ``lnk``."""
    (tmp_path / "deep" / "real").mkdir(parents=True)
    (tmp_path / "lnk").symlink_to(tmp_path / "deep" / "real")
    (tmp_path / "deep" / "data.csv").write_text("a\n1\n")
    (tmp_path / "data.csv").write_text("a\n2\n")
    return tmp_path


def test_dotdot_after_a_symbolic_link_names_the_file_the_os_opens(dotdot: Path) -> None:
    raw = f"{dotdot}/lnk/../data.csv"
    assert dataset_from_uri(raw) == ("file", str(dotdot / "deep" / "data.csv"))
    assert dataset_from_uri(Path(raw).as_uri()) == ("file", str(dotdot / "deep" / "data.csv"))
    assert hash_dataset(raw).digest == hash_path(dotdot / "deep" / "data.csv").digest
    # where the lexical form and the file opened agree, the name is as it always was
    (dotdot / "deep" / "real" / "sub").mkdir()
    assert dataset_from_uri(f"{dotdot}/lnk/sub/../x.csv") == ("file", f"{dotdot}/lnk/x.csv")
    assert dataset_from_uri(f"{dotdot}/deep/real/../data.csv") == ("file", f"{dotdot}/deep/data.csv")
    assert dataset_from_uri(f"{dotdot}/nowhere/../data.csv") == ("file", f"{dotdot}/data.csv")


def test_a_dagster_input_through_dotdot_after_a_link_is_recorded_as_the_file_read(dotdot: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    raw = f"{dotdot}/lnk/../data.csv"

    @asset
    def final(context, provenance: ProvenanceResource) -> MaterializeResult:
        pd.read_csv(raw).to_parquet(tmp_path / "final.parquet")
        done = provenance.record(inputs=[raw], outputs={"final": str(tmp_path / "final.parquet")}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    with DagsterInstance.ephemeral() as instance:
        assert materialize([final], instance=instance, resources={"provenance": ProvenanceResource(store=str(store))}).success
    [summary] = list_bundles(open_store(str(store)))
    events = parse_events_jsonl(read_bundle(open_store(str(store)), summary.run_id).files["events.jsonl"])
    [complete] = [e for e in events if e["eventType"] == "COMPLETE"]
    [read] = complete["inputs"]
    assert (read["namespace"], read["name"]) == ("file", str(dotdot / "deep" / "data.csv"))
    assert read["facets"]["version"]["datasetVersion"] == hash_path(dotdot / "deep" / "data.csv").digest
    assert main(["audit", "--rehash", "--store", str(store)]) in (0, 1)  # origins unregistered; no rehash error
    assert main(["lineage", raw, "--store", str(store)]) == 0


def _enriched(namespace: str, name: str) -> list[str]:
    event = RunEvent(eventType=RunState.COMPLETE, eventTime="2026-01-01T00:00:00Z",
                     run=Run(runId="018cc251-f400-7e09-851b-637cdaa232ac"), job=Job(namespace="default", name="x.t"),
                     outputs=[OutputDataset(namespace=namespace, name=name)], producer="https://example.invalid/p")
    return sorted((ContentHashTransformer(properties={}).transform(event).outputs[0].facets or {}).keys())


@pytest.mark.parametrize("file_name", ["plain.csv", "a b.csv", "eu#1.csv", "é.csv", "50%.csv"])
@pytest.mark.parametrize("namespace", ["file", "file://localhost"])
def test_the_transformer_hashes_every_local_file_name(tmp_path: Path, file_name: str, namespace: str) -> None:
    (tmp_path / file_name).write_text("a\n1\n")
    assert _enriched(namespace, str(tmp_path / file_name)) == ["schema", "tdprov_contentHash", "version"]


def test_a_file_namespace_no_url_parser_reads_is_passed_on_and_the_run_sealed(tmp_path: Path) -> None:
    """Another producer's ``file://[::1`` (an unclosed IPv6 host) made the naming raise ValueError: the transformer
    raised, so the transform transport dropped the event, and the bundle of a run naming it was never sealed ('could not
    record the event'). Such a dataset names no file of this machine: passed on as given, the rest hashed and sealed."""
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    (tmp_path / "ok.csv").write_text("a\n1\n")
    odd = [OutputDataset(namespace="file://[::1", name="/x.csv"), OutputDataset(namespace="file://[::1", name="x.csv")]
    event = RunEvent(eventType=RunState.COMPLETE, eventTime="2026-01-01T00:00:01Z",
                     run=Run(runId="018cc251-f400-7e09-851b-637cdaa232ad"), job=Job(namespace="default", name="x.t"),
                     outputs=[*odd, OutputDataset(namespace="file", name=str(tmp_path / "ok.csv"))],
                     producer="https://example.invalid/p")
    outputs = ContentHashTransformer(properties={}).transform(event).outputs
    assert [o.facets for o in outputs[:2]] == [{}, {}]
    assert outputs[2].facets["version"].datasetVersion == hash_path(tmp_path / "ok.csv").digest

    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "store"), strict=True))
    assert transport.emit(event).status == "written"
    bundle = read_bundle(open_store(str(tmp_path / "store")), event.run.runId)
    assert sorted((o["namespace"], o["name"]) for o in parse_events_jsonl(bundle.files["events.jsonl"])[0]["outputs"]) == [
        ("file", str(tmp_path / "ok.csv")), ("file://[::1", "/x.csv"), ("file://[::1", "x.csv")]


@pytest.mark.parametrize("file_name", ["a b.csv", "eu#1.csv", "é.csv"])
def test_tdprov_hash_of_an_escaped_file_uri_is_the_file(tmp_path: Path, file_name: str, capsys) -> None:
    (tmp_path / file_name).write_text("a\n1\n")
    uri = (tmp_path / file_name).as_uri()
    assert main(["hash", uri]) == 0
    assert capsys.readouterr().out.split()[0] == hash_path(tmp_path / file_name).digest


def test_the_rfc8089_short_file_uri_is_the_file(tmp_path: Path, capsys) -> None:
    """``file:/abs/x.csv`` (what Java and Spark print) is the file ``/abs/x.csv`` to the naming and ``tdprov hash``."""
    (tmp_path / "x.csv").write_text("a\n1\n")
    short = f"file:{tmp_path}/x.csv"
    assert dataset_from_uri(short) == dataset_from_uri(str(tmp_path / "x.csv")) == ("file", str(tmp_path / "x.csv"))
    assert dataset_from_uri(f"file:{tmp_path}/a%20b.csv") == ("file", str(tmp_path / "a b.csv"))
    assert location_of_ref(short) == ("file", str(tmp_path / "x.csv"))  # what 'tdprov lineage file:/...' looks up
    assert main(["hash", short]) == 0
    assert capsys.readouterr().out.split()[0] == hash_path(tmp_path / "x.csv").digest


def test_a_relative_file_whose_name_begins_with_file_colon_is_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        capsys) -> None:
    """``file:x.csv`` is no file URI (RFC 8089 asks for ``file:/`` or ``file://``): it is the file of that name, not
    ``x.csv``, to ``tdprov hash``, the hashing and the naming alike."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file:x.csv").write_text("a\n1\n")
    (tmp_path / "x.csv").write_text("a\n2\n")
    (tmp_path / "file:a%41.csv").write_text("a\n3\n")
    own = hash_path(tmp_path / "file:x.csv").digest
    assert own != hash_path(tmp_path / "x.csv").digest
    assert main(["hash", "file:x.csv"]) == 0
    assert capsys.readouterr().out.split() == [own, "file:x.csv"]
    assert hash_dataset("file:x.csv").digest == own
    assert dataset_from_uri("file:x.csv") == ("file", str(tmp_path / "file:x.csv"))
    assert dataset_from_uri("file:a%41.csv") == ("file", str(tmp_path / "file:a%41.csv"))  # as written, not decoded
    assert hash_dataset("file:a%41.csv").digest == hash_path(tmp_path / "file:a%41.csv").digest


def test_tdprov_hash_of_a_folder_file_uri_is_the_sharded_dataset(tmp_path: Path, capsys) -> None:
    (tmp_path / "sh").mkdir()
    for i in range(2):
        (tmp_path / "sh" / f"p-{i}.csv").write_text(f"a\n{i}\n")
    assert main(["hash", str(tmp_path / "sh")]) == 0
    expected = capsys.readouterr().out.split()[0]
    for uri in ((tmp_path / "sh").as_uri(), (tmp_path / "sh").as_uri() + "/"):
        assert main(["hash", uri]) == 0
        assert capsys.readouterr().out.split() == [expected, uri]
    assert main(["hash", "--diff", f"{tmp_path}/sh/", (tmp_path / "sh").as_uri() + "/"]) == 0


def test_a_tilde_is_not_expanded_and_the_refusal_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert dataset_from_uri("~/d/x.csv") == ("file", f"{tmp_path}/~/d/x.csv")
    with pytest.raises(BadInputError) as refused:
        hash_dataset("~/d/x.csv")
    assert "'~' is not expanded" in refused.value.fix and os.path.expanduser("~/d/x.csv") in refused.value.fix


def test_a_tilde_in_a_dataset_argument_is_refused_saying_it_is_not_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture) -> None:
    """'~/d/x.csv' reaching the CLI unexpanded (quoted, or --training-record=~/... in zsh) named no dataset, with a fix
    listing the forms of a name, none of them wrong: the refusal now says that '~' is not expanded and gives the path."""
    from test_audit_support import dataset, digest, run_events, seal

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    uri, path = str(tmp_path / "store"), str(tmp_path / "home" / "d" / "x.csv")
    seal(open_store(uri), run_events("write", [], [dataset(path, digest("x"))]))
    for argv in (["lineage", "~/d/x.csv"], ["record", "~/d/x.csv"], ["export", "--training-record", f"~/d/x.csv@{digest('x')}"]):
        assert main([*argv, "--store", uri]) == 2, argv
        err = capsys.readouterr().err
        assert f"Fix: '~' is not expanded: give the absolute path (e.g. '{path}" in err, (argv, err)
    assert main(["lineage", path, "--store", uri]) == 0


def test_a_file_read_through_a_symlinked_folder_is_its_own_dataset_and_the_audit_names_the_writer(tmp_path: Path) -> None:
    """Names are kept as written (as the official provider keeps them): ``lnk/mid.csv`` and ``real/mid.csv`` are two
    datasets; the reader's completeness finding says which recorded run wrote that file under the other name."""
    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_COMPLETENESS
    from prov_common.config import Settings

    store = tmp_path / "store"
    (tmp_path / "real").mkdir()
    (tmp_path / "lnk").symlink_to(tmp_path / "real")

    @asset
    def mid(context, provenance: ProvenanceResource) -> MaterializeResult:
        (tmp_path / "lnk" / "mid.csv").write_text("a\n1\n")
        done = provenance.record(outputs={"mid": str(tmp_path / "lnk" / "mid.csv")}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    @asset(deps=[mid])
    def final(context, provenance: ProvenanceResource) -> MaterializeResult:
        pd.read_csv(tmp_path / "real" / "mid.csv").to_parquet(tmp_path / "final.parquet")
        done = provenance.record(inputs=[str(tmp_path / "real" / "mid.csv")],
                                 outputs={"final": str(tmp_path / "final.parquet")}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    with DagsterInstance.ephemeral() as instance:
        assert materialize([mid, final], instance=instance, resources={"provenance": ProvenanceResource(store=str(store))}).success
    assert dataset_from_uri(tmp_path / "lnk" / "mid.csv") != dataset_from_uri(tmp_path / "real" / "mid.csv")
    result = run_audit(open_store(str(store)), Settings.from_env(), report_dir=tmp_path / "report", progress=False)
    [gap] = [f for c in result.checks if c.name == CHECK_COMPLETENESS for f in c.findings
             if f.object.startswith(str(tmp_path / "real" / "mid.csv"))]
    [writer] = [s for s in list_bundles(open_store(str(store))) if s.job_name.endswith("mid")]
    assert f"the same file as {tmp_path / 'lnk' / 'mid.csv'}, written by run {writer.run_id}" in gap.fix
    assert "named through a symbolic link: name it one way" in gap.fix and "tdprov source add" not in gap.fix


def test_a_run_that_rewrites_what_it_read_is_recorded_reading_it_once(tmp_path: Path) -> None:
    """The transformer hashes inputs at START and again at COMPLETE; a run that read /x and rewrote it was named as
    reading /x at the content it wrote too (two versions read, one its own output). At COMPLETE an input the event
    also names as an output is left as the producer sent it: the run read the version its START names."""
    from openlineage.client.event_v2 import InputDataset

    from prov_common.w3cprov.events import fold_runs
    from prov_common.lineage.serde import event_to_dict

    x = tmp_path / "x.csv"
    x.write_text("a\n1\n")
    before = hash_path(x).digest
    job, run = Job(namespace="default", name="refresh"), Run(runId="018cc251-f400-7e09-851b-637cdaa232ac")
    transformer = ContentHashTransformer(properties={})

    def event(kind: RunState, outputs: list) -> dict:
        made = RunEvent(eventType=kind, eventTime="2026-01-01T00:00:00Z", run=run, job=job, producer="https://example.invalid/p",
                        inputs=[InputDataset(namespace="file", name=str(x))], outputs=outputs)
        return event_to_dict(transformer.transform(made))

    started = event(RunState.START, [])
    x.write_text("a\n2\n")
    completed = event(RunState.COMPLETE, [OutputDataset(namespace="file", name=str(x))])
    (folded,) = fold_runs([started, completed])
    assert [d.version for d in folded.inputs] == [before]
    assert [d.version for d in folded.outputs] == [hash_path(x).digest] != [before]


def test_a_path_with_two_leading_slashes_is_the_file_at_the_root(tmp_path: Path) -> None:
    """``//data/x.csv`` opens ``/data/x.csv`` (Linux and macOS take a leading ``//`` as the root), but Python's
    ``abspath`` keeps it, so one file was two datasets: the one a path built as ``f"{root}/{rel}"`` with ``root="/"``
    named, and the one every other spelling of it names."""
    (tmp_path / "x.csv").write_text("a\n1\n")
    plain = ("file", str(tmp_path / "x.csv"))
    doubled = f"/{tmp_path}/x.csv"
    assert dataset_from_uri(doubled) == dataset_from_uri(f"file://{doubled}") == plain
    assert dataset_from_uri(f"file://localhost/{doubled}") == dataset_from_uri(f"/{tmp_path}/sub/../x.csv") == plain
    assert location_of_ref(doubled) == plain  # what 'tdprov lineage //...' looks up
    assert file_dataset("", doubled) == plain  # the official provider's File given by that path


def test_a_dbfs_path_given_to_lineage_names_the_databricks_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``tdprov lineage dbfs:/mnt/x.csv`` looked the reference up as a name (or as the file ``./dbfs:/mnt/x.csv`` when
    there was one): it names the Databricks file ``("dbfs", "/mnt/x.csv")``, and only it; another ``scheme:/path``,
    which names no dataset, is still looked up as a name (an Airflow asset may be named so)."""
    from prov_common.w3cprov.identity import is_location

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dbfs:" / "mnt").mkdir(parents=True)
    (tmp_path / "dbfs:" / "mnt" / "x.csv").write_text("a\n1\n")
    assert location_of_ref("dbfs:/mnt/x.csv") == ("dbfs", "/mnt/x.csv") and is_location("dbfs:/mnt/x.csv")
    assert location_of_ref("./dbfs:/mnt/x.csv") == ("file", str(tmp_path / "dbfs:" / "mnt" / "x.csv"))
    assert location_of_ref("foo:/x") is None and not is_location("foo:/x")


def test_a_dbfs_path_looked_up_is_told_a_location_only_for_a_use_of_that_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Looking a ``dbfs:/`` path up among the runs' datasets (``tdprov lineage``, ``show``, ``contains``) asked of every
    dataset use whether the path is a location, which takes its dataset's naming each time: about 4 µs a use, most
    of the lookup. It is asked only of a use named so (by name or alias), and the same runs are found: the runs that
    used that Databricks file, not one whose dataset has the path as a mere alias (a location names only its dataset)."""
    import prov_common.audit.lineage as lineage
    from prov_common.audit.model import DatasetUse, RunRecord

    def run(i: int, *uses: DatasetUse) -> RunRecord:
        return RunRecord(run_id=f"r{i}", job_namespace="ns", job_name=f"j{i}", state="COMPLETE", started_at=None,
                         ended_at=None, sealed_at=None, index_key=f"k{i}", manifest_digest="m", inputs=uses)

    versions = [f"blake3:{i:064x}" for i in range(100)]
    index = lineage.LineageIndex([run(i, DatasetUse("dbfs", f"/mnt/x{i % 10}.csv", versions[i])) for i in range(99)]
                                 + [run(99, DatasetUse("file", "/data/x.csv", versions[99], aliases=("dbfs:/mnt/x5.csv",)))])
    asked: list[str] = []
    told = lineage.is_location
    monkeypatch.setattr(lineage, "is_location", lambda ref: asked.append(ref) or told(ref))
    assert sorted(n.run_id for n in index.namings("dbfs:/mnt/x5.csv")) == sorted(f"r{i}" for i in range(5, 99, 10))
    assert asked == ["dbfs:/mnt/x5.csv"]  # of the one use it is an alias of, not of the other 99
