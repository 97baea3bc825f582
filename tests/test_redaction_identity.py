"""Identity survives redaction: a dataset is (namespace, name) and a job is (namespace, name), so the rule that finds
key material by its shape alone (a long run of base64 characters), which an ordinary long file name can have, never
turns part of two names into one ``***``; the credentials a URI carries (its password, a secret-named query value) and
well-known token formats are still redacted there."""
from __future__ import annotations

import json
import uuid

import pandas as pd
from dagster import DagsterInstance, MaterializeResult, asset, materialize

from bundle_support import all_stored_bytes, dataset, event
from prov_common.bundle import list_bundles
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main
from prov_common.lineage import dataset_from_uri, redact_text, redact_value
from prov_common.store import open_store
from prov_dagster import ProvenanceResource
LONG = "very_long_name_" * 12  # a run of 180 name characters, as many bits a character as key material


def test_long_dataset_and_job_names_stay_distinct_and_uri_secrets_are_still_redacted(tmp_path, capsys) -> None:
    """Datasets and jobs are (namespace, name): the opaque-run rule must not turn a part of two names into the same
    ``***``; the credentials of a URI (its password, a secret query value) still go."""
    store = tmp_path / "store"
    files = [tmp_path / f"f{LONG}1.parquet", tmp_path / f"f{LONG}2.parquet"]

    @asset
    def prep(context, provenance: ProvenanceResource) -> MaterializeResult:
        for n, path in enumerate(files):
            pd.DataFrame({"a": [n]}).to_parquet(path)
        done = provenance.record(outputs=[str(p) for p in files], context=context)
        return MaterializeResult(metadata=done.metadata)

    with DagsterInstance.ephemeral() as instance:
        assert materialize([prep], instance=instance, resources={"provenance": ProvenanceResource(store=str(store))}).success
    # a third-party producer through the transport: two jobs of long names, a URI's password and a signed query
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store)))
    signed = dataset("https://b.s3.amazonaws.com", "k.csv?X-Amz-Signature=SIGNATUREVALUE123&versionId=7")
    for n in (1, 2):
        run_id = str(uuid.uuid4())
        for kind, time in (("START", "2026-03-01T10:00:00Z"), ("COMPLETE", "2026-03-01T10:00:05Z")):
            transport.emit(event(run_id, kind, time, job=f"prep {LONG}{n}", inputs=[
                dataset("postgres://etl:hunter2@db:5432", "sales.public.users", "blake3:" + "2" * 64), signed],
                outputs=[dataset("file", f"{tmp_path}/g{LONG}{n}.parquet", "blake3:" + f"{n}" * 64)]))
    transport.close()
    assert len(list(list_bundles(open_store(str(store))))) == 3

    stored = all_stored_bytes(str(store))
    assert b"hunter2" not in stored and b"SIGNATUREVALUE123" not in stored
    assert b"postgres://db:5432" in stored and b"etl:" not in stored  # the namespace tdprov gives that database
    capsys.readouterr()
    assert main(["runs", "--json", "--store", str(store)]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert sorted(o["name"] for r in runs for o in r["outputs"]) == sorted(
        [*map(str, files), f"{tmp_path}/g{LONG}1.parquet", f"{tmp_path}/g{LONG}2.parquet"])
    assert {r["job"]["name"] for r in runs} == {"prep", f"prep {LONG}1", f"prep {LONG}2"}
    for path in files:
        assert main(["lineage", str(path), "--store", str(store)]) == 0
        assert str(path) in capsys.readouterr().out
    out = tmp_path / "all.provn"
    assert main(["export", "--store", str(store), "-o", str(out), "--format", "provn"]) == 0
    prov = out.read_text()
    assert "***" not in prov.replace("Signature=***", "")
    for name in (f"f{LONG}1.parquet", f"f{LONG}2.parquet",
                 f"g{LONG}1.parquet", f"g{LONG}2.parquet", f"prep {LONG}1", f"prep {LONG}2"):
        assert name in prov, name


def test_identity_fields_keep_long_names_and_lose_credentials_and_tokens() -> None:
    from prov_common.lineage import redact_identity

    key = "ghp_abcdefghijklmnopqrstuvwxyz012345"
    opaque = "Zm9vYmFy0123456789abcdefABCDEF" * 5  # 150 characters of key material
    name = f"/data/{opaque}/train.parquet"
    clean = redact_value({"job": {"namespace": "default", "name": f"prep {LONG}1"},
                          "inputs": [{"namespace": "postgres://AKIAIOSFODNN7EXAMPLE:hunter2@db:5432", "name": name},
                                     {"namespace": "s3://lake", "name": f"raw/{key}/x.csv"}],
                          "run": {"facets": {"parent": {"job": {"namespace": "default", "name": f"dag.{LONG}2"}},
                                             "note": {"text": f"read {name}"}}}})
    assert clean["job"]["name"] == f"prep {LONG}1" and clean["run"]["facets"]["parent"]["job"]["name"] == f"dag.{LONG}2"
    assert clean["inputs"] == [{"namespace": "postgres://db:5432", "name": name},
                               {"namespace": "s3://lake", "name": "raw/***/x.csv"}]
    assert clean["run"]["facets"]["note"]["text"] == "read ***.parquet"  # free text: as before
    assert redact_identity("k.csv?X-Amz-Signature=SIGNATUREVALUE123&v=1") == "k.csv?X-Amz-Signature=***&v=1"
    assert redact_identity("/data/session=7/part.parquet") == "/data/session=7/part.parquet"  # a partition, no secret
    assert redact_identity(f"https://{key}@github.com/o/r") == "https://***@github.com/o/r"
    assert dataset_from_uri(f"s3://b/{opaque}/x.csv") == ("s3://b", f"{opaque}/x.csv")
    assert redact_text(f"s3://b/{opaque}/x.csv") == "s3:***.csv"  # in free text, as before


def test_redaction_changes_nothing_of_a_name_but_its_credentials() -> None:
    """A URI namespace or name was rebuilt through urlsplit, which drops tabs and line breaks anywhere and blanks
    before the scheme, lower-cases the scheme and drops an empty '?' or '#': 's3://la\\nke' was recorded as 's3://lake',
    another dataset. Everything but a credential stays as written, and a credential is still redacted there."""
    from prov_common.lineage import redact_identity, redact_namespace

    for text in ("s3://la\nke", "s3://la\tke", " s3://lake", "HTTPS://vendor.example", "s3://lake?", "kafka://b:9092#",
                 "https://vendor.example/a\nb?c#d", "HTTPS://vendor.example/a?"):
        assert redact_namespace(text) == text and redact_identity(text) == text, text
    assert redact_identity("https://x.example/a\n?sig=abc&v=1#") == "https://x.example/a\n?sig=***&v=1#"
    assert redact_identity("HTTPS://user:pw@x.example/a?") == "HTTPS://user:***@x.example/a?"
    assert redact_namespace("Postgres://bob:pw@db\n:5432") == "Postgres://db\n:5432"


def test_a_name_whose_scheme_is_not_before_its_double_slash_is_kept_whole() -> None:
    """urlsplit takes 'a:b://c/d' as the scheme 'a' and the path 'b://c/d', while the name was rebuilt round the '://'
    (scheme 'a:b', then urlsplit's empty authority): 'a:b:///d', its 'c' dropped, another name. Such a name is no
    URI with an authority: kept as written, its query's secrets still redacted."""
    from prov_common.lineage import redact_identity, redact_namespace

    for text in ("a:b://c/d", "s3:/x://y", "mailto:x://y/z", "db:prod://host:5432/t"):
        assert redact_namespace(text) == text and redact_identity(text) == text, text
    assert redact_identity("a:b://c/d?sig=abc&v=1") == "a:b://c/d?sig=***&v=1"


# Token bodies of each vendor's shape (random, not real): Hugging Face, npm, an OpenAI project key, a bearer token
HF_TOKEN = "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"
NPM_TOKEN = "npm_ocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnFRIBXu"
SK_TOKEN = "sk-proj-76UMFxFkM_R5Kjp1vRt-1fjORS_6ilI8ihN5KXSc7Tvo_hBKqFYY_kv5ZJr3J1TW"
BEARER = "4eC39HqLyjWDarjtT1zdp7dc"
GITHUB_TOKEN = "ghp_R8fK2mQ9xW4tZ7bN3cV6pL1sD5hJ0gY2aE8u"
GITLAB_TOKEN = "glpat-x9Kq2Lm7Rt4Wz8Bn3Cv6"


def test_token_prefixes_in_names_are_words_unless_a_token_body_follows(tmp_path, capsys) -> None:
    """``hf_``, ``npm_``, ``sk-``, ``ghs_``, ``glpat-`` and ``bearer`` start ordinary words in names (``hf_train_split``,
    ``sk-learn``, ``ghs_data_export``):
    taken as tokens there, two datasets (or two jobs) were recorded as one ``***``. A real token body in a name still
    goes."""
    store = tmp_path / "store"
    words = ["/data/hf_train_split_v2.parquet", "/data/hf_test_split_v2.parquet", "/m/sk-learn-models-2024-01-01/x.pkl",
             "/m/sk-learn-models-2024-02-01/x.pkl", "/p/npm_packages_2024_01.json", "/p/npm_packages_2024_02.json",
             "/d/sk_test_split_data/x.csv", "/m/sk-learn-models-2024-01-01-randomforestclassifier/x.pkl",
             "/m/sk-learn-models-2024-01-01-gradientboostingregressor/x.pkl",  # digits in one run, a long word in another
             "/d/ghs_data_export_2024/x.csv", "/d/ghs_data_export_2025/x.csv", "/d/glpat-release_notes_2024_v2/x.csv"]
    tokens = [f"/d/{HF_TOKEN}/a.csv", f"/d/{NPM_TOKEN}/b.csv", f"/d/{SK_TOKEN}/c.csv", f"/d/{GITHUB_TOKEN}/d.csv",
              f"/d/{GITLAB_TOKEN}/e.csv"]
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store)))
    for job, outputs in (("audit bearer tokens", words[::2]), ("audit bearer scopes", words[1::2]),
                         (f"call Bearer {BEARER}", tokens)):
        run_id = str(uuid.uuid4())
        for kind, time in (("START", "2026-03-01T10:00:00Z"), ("COMPLETE", "2026-03-01T10:00:05Z")):
            transport.emit(event(run_id, kind, time, job=job,
                                 outputs=[dataset("file", name, "blake3:" + "3" * 64) for name in outputs]))
    transport.close()

    stored = all_stored_bytes(str(store))
    for secret in (HF_TOKEN, NPM_TOKEN, SK_TOKEN, BEARER, GITHUB_TOKEN, GITLAB_TOKEN):
        assert secret.encode() not in stored, secret
    capsys.readouterr()
    assert main(["runs", "--json", "--store", str(store)]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert sorted(r["job"]["name"] for r in runs) == ["audit bearer scopes", "audit bearer tokens", "call ***"]
    assert sorted(o["name"] for r in runs for o in r["outputs"]) == sorted([*words, *(f"/d/***/{f}.csv" for f in "abcde")])


def test_a_producers_namespace_with_user_information_is_the_namespace_tdprov_gives_that_database(tmp_path, capsys) -> None:
    """The naming spec puts no credentials in a namespace, and tdprov names ``postgres://etl:pw@db:5432/t`` as
    ``postgres://db:5432``: another producer's event naming it with its user information was recorded as
    ``postgres://etl:***@db:5432``, a second namespace of one database (and one per user name)."""
    store = tmp_path / "store"
    own = dataset_from_uri("postgres://etl:hunter2@db:5432/sales.public.users")
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store)))
    for user in ("etl:hunter2", "reporting:s3cr3t", "etl"):
        run_id = str(uuid.uuid4())
        inputs = [dataset(f"postgres://{user}@db:5432", "sales.public.users", "blake3:" + "4" * 64),
                  dataset("abfss://raw@acct.dfs.core.windows.net", "users.parquet")]
        for kind, time in (("START", "2026-03-01T10:00:00Z"), ("COMPLETE", "2026-03-01T10:00:05Z")):
            transport.emit(event(run_id, kind, time, job=f"load {user.partition(':')[0]}", inputs=inputs))
    transport.close()

    stored = all_stored_bytes(str(store))
    assert b"hunter2" not in stored and b"s3cr3t" not in stored and b"etl:" not in stored and b"etl@" not in stored
    capsys.readouterr()
    assert main(["runs", "--json", "--store", str(store)]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 3
    assert {(i["namespace"], i["name"]) for r in runs for i in r["inputs"]} == {
        own, ("abfss://raw@acct.dfs.core.windows.net", "users.parquet")}
