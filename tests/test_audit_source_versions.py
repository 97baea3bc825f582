"""The records of one digest describe that version together: a later record under another name closes the
gaps an earlier one left, the training sections name each gap once per source version (digest and location), and consent is asked of
personal data only."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from prov_common.audit import run_audit
from prov_common.cli import main as tdprov
from prov_common.config import Settings
from prov_common.sources.model import SourceRecord
from prov_common.store import open_store

from test_audit_support import T0, dataset, digest, run_events, seal

DATA = "/data/cancer.csv"


def audit(store: str, out: Path, trained: str = DATA) -> tuple[dict, dict[str, dict]]:
    run_audit(open_store(store), Settings.from_env(store=store), report_dir=out, progress=False)
    report = json.loads((out / "report.json").read_text())
    [entry] = [e for e in report["trainingData"] if e["dataset"] == trained]
    return entry, {i["item"]: i for i in entry["article10"]["items"]}


def prepared_origins(store: str, data: str, copy: tuple[str, str], out: Path) -> list[dict]:
    """The origins the audit gives the data that a preparation run wrote from DATA (holding ``data``) and ``copy``
    (location, digest), and that a training run then read."""
    prepared = "/data/prepared.parquet"
    seal(open_store(store), run_events("prepare", [dataset(DATA, data), dataset(*copy)],
                                       [dataset(prepared, digest("prepared"))], start=T0))
    seal(open_store(store), run_events("train_model", [dataset(prepared, digest("prepared"))],
                                       [dataset("/models/m.pkl", digest("m"))], start=T0 + timedelta(minutes=10),
                                       job_type="TRAINING"))
    entry, _ = audit(store, out, prepared)
    return entry["article10"]["origin"]


def add_source(store: str, name: str, data: str, *options: str) -> int:
    return tdprov(["source", "add", DATA, "--digest", data, "--name", name, "--license", "CC-BY-4.0",
                   "--issuer", "UCI Machine Learning Repository", *options, "--store", store])


def source_gaps(items: dict[str, dict]) -> list[str]:
    return [g for g in items["10(2)(h)"]["gaps"] if g.startswith("source '")]


def test_a_later_record_of_the_same_data_closes_the_gaps_of_an_earlier_one(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "store")
    data = digest("breast cancer")
    assert add_source(store, "breast-cancer", data, "--generation-method", "clinical records", "--collection-end", "1995-11-01",
                      "--origin-geography", "US", "--personal-data", "anonymised", "--confidentiality", "public",
                      "--intended-use", "research", "--description", "one row per biopsy") == 0
    seal(open_store(store), run_events("train_model", [dataset(DATA, data)], [dataset("/models/m.pkl", digest("m"))],
                                       start=T0, job_type="TRAINING"))
    entry, items = audit(store, tmp_path / "r1")
    assert items["10(2)(b)"]["gaps"] == ["source 'breast-cancer' does not record its collection: tdprov source add --collection-start"]
    before = source_gaps(items)
    assert any("collection start" in g for g in before)
    assert not any("consent" in g for g in items["10(2)(h)"]["gaps"])  # anonymised data: no consent to document
    for gap in before:  # every gap names the option that would record it
        assert "--" in gap, gap

    # the same name and digest again is refused, and the message says how to add the field
    capsys.readouterr()
    assert add_source(store, "breast-cancer", data, "--collection-start", "1990-01-01") == 2
    err = capsys.readouterr().err
    assert "another name" in err and "records of one digest at one location together" in err and "new digest" not in err.split("Fix:")[1].split(";")[0]

    # a record of the same data under another name with only the missing field: the version is described by both
    assert add_source(store, "breast-cancer-2", data, "--collection-start", "1990-01-01") == 0
    entry, items = audit(store, tmp_path / "r2")
    assert items["10(2)(b)"]["gaps"] == []
    assert ("'breast-cancer' (also recorded as 'breast-cancer-2') issued by UCI Machine Learning Repository under CC-BY-4.0; "
            "method clinical records; collected 1990-01-01 to 1995-11-01; origin US") in items["10(2)(b)"]["recordsShow"][0]
    after = source_gaps(items)
    assert not any("collection start" in g for g in after)
    assert not any(g.startswith("source 'breast-cancer-2'") for g in after)  # the partial record adds no gaps of its own
    assert len(after) <= len(before) and all("(also recorded as 'breast-cancer-2')" in g for g in after)
    assert not any("source 'breast-cancer-2'" in g for i in items.values() for g in i["gaps"])
    [origin] = entry["article10"]["origin"]
    assert origin["name"] == "breast-cancer" and origin["alsoRecordedAs"] == ["breast-cancer-2"]
    assert origin["collectionTimeframe"] == ["1990-01-01", "1995-11-01"]


def test_personal_data_asks_for_consent_until_a_record_of_the_digest_documents_it(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    data = digest("patients")
    assert add_source(store, "patients", data, "--personal-data", "pseudonymised") == 0
    seal(open_store(store), run_events("train_model", [dataset(DATA, data)], [dataset("/models/m.pkl", digest("m"))],
                                       start=T0 + timedelta(hours=1), job_type="TRAINING"))
    _, items = audit(store, tmp_path / "r1")
    consent = [g for g in source_gaps(items) if "consent" in g]
    assert consent and all("--consent" in g and "--legal-basis" in g for g in consent)
    assert any("without documented consent or legal basis" in g for g in items["10(5)"]["gaps"])
    assert add_source(store, "patients-basis", data, "--legal-basis", "GDPR Art. 6(1)(f) legitimate interest") == 0
    _, items = audit(store, tmp_path / "r2")
    assert not any("consent" in g for g in source_gaps(items))
    assert items["10(5)"]["gaps"] == []
    assert any("legal basis GDPR Art. 6(1)(f)" in s for s in items["10(5)"]["recordsShow"])


def test_the_newest_record_wins_a_field_several_set() -> None:
    from prov_common.sources.merged import merge_records

    data = digest("x")
    old = SourceRecord(name="x", digest=data, license="CC0-1.0", issuer="A", collection_start="2020-01-01", collection_end="2020-12-31",
                       personal_data="personal", registered_at="2026-01-01T00:00:00Z")
    new = SourceRecord(name="x-2", digest=data, license="CC-BY-4.0", issuer="A", collection_start="2021-01-01",
                       personal_data="anonymised", intended_use="research", registered_at="2026-02-01T00:00:00Z")
    merged = merge_records([new, old])
    assert merged.names == ("x", "x-2") and merged.label == "source 'x' (also recorded as 'x-2')"
    r = merged.record
    assert (r.name, r.license, r.personal_data, r.intended_use) == ("x", "CC-BY-4.0", "anonymised", "research")
    # dates that would end before they start are taken together from the newest record that sets either
    assert (r.collection_start, r.collection_end) == ("2021-01-01", None)
    assert not r.personal


def test_a_later_record_needs_only_the_fields_it_adds_and_the_first_one_a_licence_and_issuer(tmp_path: Path, capsys) -> None:
    """Through the CLI on a real file: the first record of a digest needs --license and --issuer; a later one of the same
    data (under another name) states only what it adds, e.g. the consent the audit's finding asks for."""
    import pandas as pd

    from prov_common.signing import SigningKey
    from prov_common.sources import register_source

    store, claims = str(tmp_path / "store"), tmp_path / "claims.parquet"
    pd.DataFrame({"name": ["a", "b"], "email": ["x@y", "z@w"]}).to_parquet(claims)

    def add(name: str, *options: str) -> int:
        return tdprov(["source", "add", str(claims), "--name", name, *options, "--store", store])

    def consent_findings(report: Path) -> list[str]:
        assert tdprov(["audit", "--store", store, "--report", str(report), "--quiet"]) in (0, 1)
        found = json.loads((report / "report.json").read_text())
        return [f["what"] for c in found["checks"] for f in c["findings"] if "consent" in f["what"]]

    # a record of the same digest signed by a key this store does not trust gives nothing to a later record
    assert tdprov(["hash", str(claims)]) == 0
    data = capsys.readouterr().out.split()[0]
    register_source(open_store(store), SourceRecord(name="forged", digest=data, license="CC0-1.0", issuer="Mallory"),
                    SigningKey.generate())
    assert add("vendor-claims", "--personal-data", "pseudonymised") == 2
    err = capsys.readouterr().err
    assert f"no verified source record of {data} at {claims} in {store}" in err and "--license and --issuer" in err, err
    assert "Fix: pass --license" in err

    assert add("vendor-claims", "--license", "CC-BY-4.0", "--issuer", "Acme Data", "--personal-data", "pseudonymised") == 0
    seal(open_store(store), run_events("train_model", [dataset(str(claims), data)], [dataset("/models/m.pkl", digest("m"))],
                                       start=T0, job_type="TRAINING"))
    [finding] = consent_findings(tmp_path / "r1")
    assert "source 'vendor-claims' holds personal data" in finding

    capsys.readouterr()
    assert add("vendor-claims-2", "--consent", "https://acme.example/consent") == 0  # as the finding's fix says
    assert add("vendor-claims-3", "--collection-start", "2025-01-01") == 0  # as docs/audit.md says
    out = capsys.readouterr().out
    assert "--license and --issuer not given: taken from source 'vendor-claims': licence CC-BY-4.0, issuer Acme Data" in out, out
    assert consent_findings(tmp_path / "r2") == []
    capsys.readouterr()
    assert tdprov(["source", "list", "--json", "--store", store]) == 1  # the untrusted record is named on stderr
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {records[n]["license"] for n in ("vendor-claims", "vendor-claims-2", "vendor-claims-3")} == {"CC-BY-4.0"}
    assert {records[n]["issuer"] for n in ("vendor-claims", "vendor-claims-2", "vendor-claims-3")} == {"Acme Data"}


def test_equal_bytes_registered_at_two_locations_are_two_sources_each_with_its_own_location(tmp_path: Path) -> None:
    """A source version is a dataset at a digest: the record of the same bytes at another location (registered later,
    under another licence) is another dataset, never read into the description of the one the training run read."""
    store, mirror = str(tmp_path / "store"), "/mirror/cancer.csv"
    data = digest("breast cancer")
    assert add_source(store, "breast-cancer", data, "--personal-data", "personal", "--consent", "https://uci.example/consent") == 0
    assert tdprov(["source", "add", mirror, "--digest", data, "--name", "cancer-mirror", "--license", "CC0-1.0",
                   "--issuer", "Mirror Ltd", "--personal-data", "personal", "--store", store]) == 0
    seal(open_store(store), run_events("train_model", [dataset(DATA, data)], [dataset("/models/m.pkl", digest("m"))],
                                       start=T0, job_type="TRAINING"))
    entry, items = audit(store, tmp_path / "r")
    [origin] = entry["article10"]["origin"]
    assert (origin["name"], origin["alsoRecordedAs"], origin["location"], origin["license"], origin["issuer"]) == (
        "breast-cancer", [], DATA, "CC-BY-4.0", "UCI Machine Learning Repository")
    assert not any("cancer-mirror" in g for i in items.values() for g in i["gaps"])
    # the mirror's record documents no consent: its own finding, which the consent recorded at DATA does not close
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    consent = [f["what"] for c in report["checks"] for f in c["findings"] if "consent" in f["what"]]
    assert consent == ["source 'cancer-mirror' holds personal data (classified personal) but documents neither consent "
                       "nor a legal basis for processing it"]


def test_each_source_version_on_a_trace_is_matched_as_it_was_found(tmp_path: Path) -> None:
    """A preparation run read the source at its location and a copy of the same bytes elsewhere: the record at the
    location it read is matched by location, the record of equal bytes at a third place by content only."""
    store = str(tmp_path / "store")
    data = digest("breast cancer")
    assert add_source(store, "breast-cancer", data) == 0
    assert tdprov(["source", "add", "/mirror/cancer.csv", "--digest", data, "--name", "cancer-mirror", "--license",
                   "CC0-1.0", "--issuer", "Mirror Ltd", "--store", store]) == 0
    origins = prepared_origins(store, data, ("/copies/cancer.csv", data), tmp_path / "r")
    matched = {o["name"]: (o["location"], o["matchedBy"]) for o in origins}
    assert matched == {"breast-cancer": (DATA, "location"), "cancer-mirror": ("/mirror/cancer.csv", "content")}


def test_a_name_reused_at_another_location_does_not_make_the_located_source_one_matched_by_content(tmp_path: Path) -> None:
    """The name 'cancer' is registered at DATA and, for other bytes, at /mirror/other.csv; a preparation run read DATA
    and a copy of the mirror's bytes. The record at DATA is matched by location though a record of its name (another
    source version) is matched by content only: matchedBy compares the records of the version, not their names."""
    store = str(tmp_path / "store")
    data, other = digest("breast cancer"), digest("other")
    assert add_source(store, "cancer", data) == 0
    assert tdprov(["source", "add", "/mirror/other.csv", "--digest", other, "--name", "cancer", "--license", "CC0-1.0",
                   "--issuer", "Mirror Ltd", "--store", store]) == 0
    origins = prepared_origins(store, data, ("/copies/other.csv", other), tmp_path / "r")
    matched = sorted((o["name"], o["location"], o["matchedBy"]) for o in origins)
    assert matched == [("cancer", DATA, "location"), ("cancer", "/mirror/other.csv", "content")]


def test_records_of_one_source_version_that_disagree_on_the_licence_are_a_gap_of_the_training_data(tmp_path: Path) -> None:
    """The data registered as CC-BY-4.0, then again at its location as CC0-1.0: the training-data section gave the
    newest licence only, the attribution licence gone without a word. It still gives the newest, and its gaps say
    what each record states."""
    store, data = str(tmp_path / "store"), digest("breast cancer")
    assert add_source(store, "breast-cancer", data) == 0
    assert tdprov(["source", "add", DATA, "--digest", data, "--name", "breast-cancer-cc0", "--license", "CC0-1.0",
                   "--store", store]) == 0
    seal(open_store(store), run_events("train_model", [dataset(DATA, data)], [dataset("/models/m.pkl", digest("m"))],
                                       start=T0, job_type="TRAINING"))
    _, items = audit(store, tmp_path / "r")
    assert "issued by UCI Machine Learning Repository under CC0-1.0" in items["10(2)(b)"]["recordsShow"][0]
    assert (f"the records of source 'breast-cancer' (also recorded as 'breast-cancer-cc0') at {DATA} ({data}) state other "
            "licences: CC0-1.0 by 'breast-cancer-cc0', the newest, given here; CC-BY-4.0 by 'breast-cancer' (check which "
            "applies before use; records are never rewritten, so each stays stated)") in items["10(2)(h)"]["gaps"]
    assert not any("other issuers" in g for g in items["10(2)(h)"]["gaps"])  # the later record took the issuer
