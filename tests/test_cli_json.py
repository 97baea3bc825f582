"""Every verb's machine output parses as JSON: ``--json`` options, and the verbs that always print JSON."""
from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest

from prov_common.bundle import build_bundle, rows_path
from prov_common.bundle.storage import deliver_bundle
from prov_common.cli import build_parser, main
from prov_common.hashing import hash_dataframe, write_row_digests
from prov_common.signing import default_signing_key
from prov_common.store import open_store

from test_audit_support import Pipeline, dataset, digest, not_camel_case, run_events, seal, text_jobs

# Verbs whose only output is JSON (always, or in the format chosen here), besides those with --json.
JSON_VERBS = {"prove", "record", "export", "prov"}
JSON_LINES = {"hash", "verify"}  # one JSON document per line: one per path or bundle
REPO = Path(__file__).resolve().parents[1]
# The training-data record (D&TA or Croissant): a published shape of its own (docs/records.md), which gives a run's
# job as text (its 'transformations', Croissant's 'prov:wasGeneratedBy' name).
PUBLISHED_RECORDS = {"record"}


def _verbs_with_json_option() -> set[str]:
    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = set()
    for name, sub in verbs.choices.items():
        parsers = [sub] + [p for a in sub._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()]
        if any("--json" in a.option_strings for p in parsers for a in p._actions):
            found.add(name)
    return found


@pytest.fixture
def recorded(tmp_path: Path) -> dict[str, str]:
    """A store with a registered source, a prepare -> train pipeline, a table with row digests, and an audit checkpoint."""
    pipeline = Pipeline(str(tmp_path / "store"))
    frame = pd.DataFrame({"customer_id": [1041, 1042], "email": ["a@x.org", "b@x.org"]})
    td = hash_dataframe(frame, granularity="row")
    sidecar = write_row_digests(td, tmp_path / "rows.parquet")
    events = run_events("load_customers", [], [dataset("/data/customers.parquet", td.digest)])
    deliver_bundle(pipeline.store, build_bundle(events, {rows_path("file", "/data/customers.parquet"): sidecar.read_bytes()},
                                                default_signing_key()))
    frame.to_parquet(tmp_path / "a.parquet")
    frame.iloc[::-1].to_parquet(tmp_path / "b.parquet")
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    store = pipeline.store.uri
    assert main(["audit", "--quiet", "--store", store, "--report", str(tmp_path / "report")]) == 0
    return {"store": store, "dir": str(tmp_path), "run": pipeline.train, "customers": td.digest}


def _cases(r: dict[str, str]) -> dict[str, list[list[str]]]:
    s, d = ["--store", r["store"]], r["dir"]
    return {
        "hash": [["hash", "--json", f"{d}/a.parquet", f"{d}/events.jsonl"], ["hash", "--json", "--diff", f"{d}/a.parquet", f"{d}/b.parquet"]],
        "verify": [["verify", "--json", *s]],
        "runs": [["runs", "--json", *s]],
        "show": [["show", r["run"], "--json", *s]],
        "source": [["source", "list", "--json", *s]],
        "lineage": [["lineage", "/data/features.parquet", "--json", *s]],
        "contains": [["contains", r["customers"], "--record", '{"customer_id": 1042, "email": "b@x.org"}', "--json", *s]],
        "prove": [["prove", r["run"], *s]],
        "record": [["record", "/data/features.parquet", *s], ["record", "/data/features.parquet", "--format", "croissant", *s]],
        "export": [["export", *s], ["export", "--training-record", "/data/features.parquet", *s]],
        "prov": [["prov", f"{d}/events.jsonl"]],
        "audit": [["audit", "--json", "--report", f"{d}/report-json", *s],
                  ["audit", "--json", "--report", f"{d}/report-json", "--witness", f"{d}/report/report.json", *s]],
    }


def test_every_verb_with_json_output_is_covered() -> None:
    with_option = _verbs_with_json_option()
    assert {"hash", "runs", "source", "lineage", "verify", "contains"} <= with_option
    missing = (with_option | JSON_VERBS) - set(_cases({"store": "", "dir": "", "run": "", "customers": ""})) - {"store"}
    assert not missing, f"verbs printing JSON with no case in this test: {missing}"


def test_every_verb_prints_parseable_json(recorded: dict[str, str], capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """Each output parses, and names its fields in camelCase as all of tdprov's JSON does (docs/cli.md, "Names in
    JSON"), report.json too: 'source list --json' and report.json's sources named the signed record's fields as it
    does (store_id, registered_at, origin_geography, ...). Each gives a job as {"namespace", "name"}, as 'runs' and
    'show' do: 'audit --json', report.json, 'contains' and 'lineage' gave it as "namespace/name" text, or as 'job'
    and 'jobNamespace'."""
    seal(open_store(recorded["store"]), run_events("train_on_customers", [dataset("/data/customers.parquet", recorded["customers"])],
                                                   [dataset("/models/customers.pkl", digest("customers-model"))], job_type="TRAINING"))
    for verb, argvs in _cases(recorded).items():
        for argv in argvs:
            code = main(argv)
            out = capsysbinary.readouterr().out
            assert code in (0, 1), f"{argv}: exit {code}"
            assert out.strip(), f"{argv}: no output"
            docs = [json.loads(line) for line in out.splitlines()] if verb in JSON_LINES else [json.loads(out)]
            assert all(isinstance(doc, (dict, list)) for doc in docs), argv
            canonical_prov = verb in {"export", "prov"} and "--training-record" not in argv  # the exact bytes that are hashed
            assert canonical_prov or out.endswith(b"\n"), f"{argv}: output does not end with a newline"
            assert not [n for doc in docs for n in not_camel_case(doc)], f"{argv}: {[not_camel_case(doc) for doc in docs]}"
            if verb not in PUBLISHED_RECORDS and "--training-record" not in argv:
                assert not [n for doc in docs for n in text_jobs(doc)], f"{argv}: jobs as text at {[text_jobs(doc) for doc in docs]}"
    reports = sorted(Path(recorded["dir"]).glob("report*/report.json"))
    assert len(reports) == 2 and json.loads(reports[0].read_bytes())["sources"]
    for report in reports:
        assert not not_camel_case(json.loads(report.read_bytes())), f"{report}: {not_camel_case(json.loads(report.read_bytes()))}"
        assert not text_jobs(json.loads(report.read_bytes())), f"{report}: jobs as text at {text_jobs(json.loads(report.read_bytes()))}"


def test_json_to_output_file_and_dash(recorded: dict[str, str], tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    target = tmp_path / "proof.json"
    assert main(["prove", recorded["run"], "-o", str(target), "--store", recorded["store"]]) == 0
    assert capsysbinary.readouterr().out == b""
    assert main(["prove", recorded["run"], "-o", "-", "--store", recorded["store"]]) == 0
    assert capsysbinary.readouterr().out == target.read_bytes()
    assert json.loads(target.read_bytes())["leafIndex"] >= 0


def test_store_init_json(s3_store_uri: str, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """The store's id is 'storeId', as a local folder's 'store init --json' and store-layout.md name it (it was
    'store_id' on S3); its other fields are camelCase too, as in all of tdprov's JSON (they were 'object_lock',
    'lock_mode', 'retention_days', 'retention_years' and 'conditional_writes')."""
    from prov_common.store.identity import read_identity

    assert main(["store", "init", s3_store_uri, "--json"]) == 1  # versioning and Object Lock are off
    found = json.loads(capsysbinary.readouterr().out)
    assert list(found) == ["store", "versioning", "objectLock", "lockMode", "retentionDays", "retentionYears",
                           "conditionalWrites", "storeId", "changed", "problems"], found
    assert (found["objectLock"], found["lockMode"], found["conditionalWrites"]) == (False, None, True)
    assert found["storeId"] == read_identity(open_store(s3_store_uri)).store_id


def test_store_init_json_of_a_local_folder(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """A local folder's 'store init --json' printed the text line."""
    assert main(["store", "init", str(tmp_path / "s"), "--json"]) == 0
    from prov_common.store.identity import read_identity

    made = read_identity(open_store(str(tmp_path / "s")))
    assert made is not None
    assert json.loads(capsysbinary.readouterr().out) == {"store": str(tmp_path / "s"), "kind": "local folder",
                                                          "writeOnce": "exclusive create", "worm": False,
                                                          "storeId": made.store_id, "storeIdCreated": True}


def test_every_verb_writing_a_file_says_what_it_wrote(recorded: dict[str, str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A verb given -o FILE says on stderr 'wrote FILE: what', as 'export' did, and prints nothing else: 'record',
    'prove', 'prov' and 'lineage -o' said nothing, and 'graph' said it on stdout as '1 runs'."""
    s, d, out = ["--store", recorded["store"]], recorded["dir"], str(tmp_path / "out")
    cases = [
        (["record", "/data/features.parquet"], "D&TA provenance record of /data/features.parquet"),
        (["record", "/data/features.parquet", "--format", "croissant"], "Croissant record of /data/features.parquet"),
        (["export", "--training-record", "/data/features.parquet"], "D&TA provenance record of /data/features.parquet"),
        (["export"], "PROV of 3 bundles"),
        (["prove", recorded["run"]], f"proof that run {recorded['run']} is in the log at checkpoint 3"),
        (["prove", "--consistency", "3", "3"], "proof that checkpoint 3 extends checkpoint 3"),
        (["prov", f"{d}/events.jsonl", "-f", "ttl"], "PROV (ttl) of 2 events"),
        (["graph", f"{d}/events.jsonl"], "1 run, 1 dataset/version"),
    ]
    for argv, what in cases:
        target = f"{out}.dot" if argv[0] == "graph" else out
        assert main([*argv, "-o", target, *([] if argv[0] in ("prov", "graph") else s)]) == 0, argv
        said = capsys.readouterr()
        assert (said.out, said.err) == ("", f"wrote {target}: {what}\n"), argv
    assert main(["lineage", "/data/features.parquet", "-o", f"{out}.dot", *s]) == 0
    said = capsys.readouterr()
    assert said.out.startswith("/data/features.parquet  blake3:")  # the tree, as without -o
    assert said.err == f"wrote {out}.dot: upstream lineage of /data/features.parquet: 1 run, 2 datasets/versions\n"
    assert main(["record", "/data/features.parquet", "-o", "-", *s]) == 0
    assert capsys.readouterr().err == ""  # written to stdout: nothing to say


def _unnamed(fields: Iterable[str], text: str) -> list[str]:
    """The ``fields`` of a JSON document that ``text`` (a help or a page that lists them) does not name."""
    return sorted(set(fields) - set(re.findall(r"[A-Za-z]+", text)))


def test_readme_names_every_field_of_show_json(recorded: dict[str, str], capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """The README tour's 'tdprov show --json' line lists the document's fields; it left out mappingKey and
    stagedAfterSealing, which the document has for every run."""
    line = re.search(r"^tdprov show --json RUN_ID\s+# (.*)$", (REPO / "README.md").read_text(), re.MULTILINE).group(1)
    assert main(["show", recorded["run"], "--json", "--store", recorded["store"]]) == 0
    fields = json.loads(capsysbinary.readouterr().out)
    assert not _unnamed(fields, line), f"fields of 'tdprov show --json' the README does not name: {_unnamed(fields, line)}"


def test_help_and_docs_name_every_field_of_audit_json(recorded: dict[str, str], tmp_path: Path,
                                                      capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """'tdprov audit --json' was said to hold "the summary, the checkpoint (size, root, digest) and the findings"; it
    also has auditId, format, remembered, report and store. Its help names every field, docs/audit.md every field and
    those of summary, checkpoint and report."""
    argv = ["audit", "--json", "--report", str(tmp_path / "again"), "--store", recorded["store"]]
    assert main(argv) == 0
    doc = json.loads(capsysbinary.readouterr().out)
    page = re.search(r"^`tdprov audit --json` prints .*?(?=\n\n)", (REPO / "docs" / "audit.md").read_text(),
                     re.MULTILINE | re.DOTALL).group(0)
    fields = [*doc, *doc["summary"], *doc["checkpoint"], *doc["report"], *doc["remembered"]]
    assert not _unnamed(fields, page), f"fields of 'tdprov audit --json' docs/audit.md does not name: {_unnamed(fields, page)}"
    verbs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    help_text = next(a.help for a in verbs.choices["audit"]._actions if "--json" in a.option_strings)
    assert not _unnamed(doc, help_text), f"fields of 'tdprov audit --json' its help does not name: {_unnamed(doc, help_text)}"
