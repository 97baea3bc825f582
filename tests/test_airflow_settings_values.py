"""``[tdprov]`` values that are not what their option expects keep its default and are named in a warning,
in a real ``dag.test()``: a typo never turns provenance off or loses a task's run."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pendulum
import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, run_dag

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from prov_common.bundle.transport import UNOPENED_WARNED
from prov_common.config import WARNED
from prov_common.errors import BadInputError
from prov_common.store import open_store

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_id: str, **options: str) -> dict:
    """Run a one-task DAG (CSV inlet -> Parquet outlet) with ``[tdprov]`` ``options``; the bundles by job name."""
    WARNED.clear()
    UNOPENED_WARNED.clear()  # each test warned afresh, as a new task process is
    store = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(tmp_path / "spool"))
    for option, value in options.items():
        monkeypatch.setenv(f"AIRFLOW__TDPROV__{option.upper()}", value)
    src, dst = tmp_path / "raw.csv", tmp_path / "out.parquet"
    pd.DataFrame({"id": [1, 2, 3]}).to_csv(src, index=False)
    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=lambda: pd.read_csv(src).to_parquet(dst, index=False),
                       inlets=[str(src)], outlets=[str(dst)])
    assert run_dag(dag, logical_date=START).state == "success"
    return {s.job_name: s for s in bundles_of(store)} if store.exists() else {}


def test_a_typo_in_listener_enabled_keeps_the_listener_on_and_names_the_option(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    bundles = _run(tmp_path, monkeypatch, "tdprov_listener_typo", listener_enabled="flase")
    assert sorted(bundles) == ["tdprov_listener_typo", "tdprov_listener_typo.t"]
    assert "[tdprov] listener_enabled='flase' is not a yes/no value" in caplog.text


@pytest.mark.parametrize("option, value", [("max_bytes", "inf"), ("hash_timeout", "nan"), ("hash_timeout", "abc"),
                                           ("max_bytes", "-1")])
def test_a_bad_number_keeps_the_default_names_the_option_and_the_run_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, option: str, value: str) -> None:
    from prov_airflow.settings import ListenerLimits

    bundles = _run(tmp_path, monkeypatch, "tdprov_bad_number", **{option: value})
    task = bundles["tdprov_bad_number.t"]
    assert task.state == "COMPLETE" and task.outputs[0].version and task.inputs[0].version  # hashed within the default
    assert f"[tdprov] {option}={value!r} is not a finite number above 0" in caplog.text
    assert ListenerLimits.from_conf() == ListenerLimits()


def _events_kept_for(spool: Path, good: Path, job: str, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture) -> None:
    """The spool holds the events of ``job``'s runs; ``tdprov flush --store GOOD`` delivers them, ``tdprov store seal``
    seals them (run in this process: test_store_outbox runs 'tdprov flush' in its own)."""
    from prov_common.cli import main
    from prov_common.store.outbox import Outbox

    assert Outbox(spool).pending(), "nothing was kept"
    assert Outbox(spool).flush(open_store(str(good))).delivered == 0  # a write to another store does not take them
    monkeypatch.setenv("TDPROV_SPOOL", str(spool))
    assert main(["flush", "--store", str(good)]) == 0, capsys.readouterr()
    runs = sorted({key.split("/")[1] for key in open_store(str(good)).list("staging/")})
    assert runs
    assert main(["store", "seal", "--store", str(good), *runs]) == 0, capsys.readouterr()
    assert job in {s.job_name for s in bundles_of(good)}


@pytest.mark.parametrize("bad", ["gs://b/p", "a-file"])
def test_a_store_setting_that_cannot_be_opened_keeps_the_events_in_the_outbox(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture,
        bad: str) -> None:
    if bad == "a-file":
        (tmp_path / bad).write_text("not a store")
        bad = str(tmp_path / bad)
    _run(tmp_path, monkeypatch, "tdprov_bad_store", store=bad)
    assert "[tdprov] store" in caplog.text and "kept in the outbox" in caplog.text, caplog.text
    _events_kept_for(tmp_path / "spool", tmp_path / "good", "tdprov_bad_store.t", monkeypatch, capsys)


def test_a_transport_store_option_that_cannot_be_opened_keeps_the_events(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.uuid import generate_new_uuid

    spool = tmp_path / "spool"
    client = OpenLineageClient(config={"transport": {"type": "prov_common.bundle.transport.ProvenanceTransport",
                                                     "store": "gs://x/y", "spool": str(spool)}})
    run_id = str(generate_new_uuid())
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(RunEvent(eventType=state, eventTime="2026-01-01T00:00:00Z", run=Run(runId=run_id),
                             job=Job(namespace="ns", name="job"), producer="https://example.org/p"))
    assert "transport option 'store'" in caplog.text and "kept in the outbox" in caplog.text, caplog.text
    _events_kept_for(spool, tmp_path / "good", "job", monkeypatch, capsys)


def test_connection_extras_are_read_or_named(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The store given in the connection's extra (host left empty) is read, as are ``snapshot`` and ``issuer``; an
    unknown extra key is named with the closest known one."""
    import json

    from prov_airflow.hooks.provenance import ProvenanceHook

    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_EXTRA", json.dumps({"conn_type": "tdprov", "extra": {
        "store": "/data/prov", "signing_kye": "/k", "snapshot": "yes", "issuer": "Example Org"}}))
    settings = ProvenanceHook("tdprov_extra").get_settings()
    assert (settings.store, settings.snapshot, settings.issuer) == ("/data/prov", True, "Example Org")
    assert "unknown key 'signing_kye' in the extra of Airflow connection 'tdprov_extra' (did you mean 'signing_key'?)" \
        in caplog.text


@pytest.mark.parametrize("extra, said", [
    ({"store": 5}, "'store' in the extra of Airflow connection 'tdprov_typed' is 5, not text."),
    ({"trusted_keys": 5}, "'trusted_keys' in the extra of Airflow connection 'tdprov_typed' is 5, not text or a list of texts."),
    ({"trusted_keys": ["/k.pub", None]}, "'trusted_keys' in the extra of Airflow connection 'tdprov_typed' is [\"/k.pub\", null], not text"),
    ({"strict": 2}, "'strict' in the extra of Airflow connection 'tdprov_typed' is 2, not true or false."),
    ({"signing_key": ["/k"]}, "'signing_key' in the extra of Airflow connection 'tdprov_typed' is [\"/k\"], not text."),
    ([{"store": "/data/prov"}], "the extra of Airflow connection 'tdprov_typed' is an array, not an object of settings."),
])
def test_a_connection_extra_of_another_type_is_refused_naming_its_key(extra: object, said: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A setting in the connection's extra of another JSON type was read as it came: ``{"trusted_keys": 5}`` failed as
    an error in tdprov ('int' object is not iterable), ``[..., null]`` trusted a key file named 'None', an extra that is
    an array had no ``.get``. Each is refused naming the connection, the key and what to give."""
    import json

    from prov_airflow.hooks.provenance import ProvenanceHook
    from prov_common.errors import BadInputError

    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_TYPED", json.dumps({"conn_type": "tdprov", "extra": extra}))
    with pytest.raises(BadInputError) as refused:
        ProvenanceHook("tdprov_typed").get_settings()
    assert said in refused.value.what and refused.value.fix


def test_unknown_tdprov_options_are_named(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from prov_airflow.settings import resolve_settings

    monkeypatch.setenv("AIRFLOW__TDPROV__STROE", "/x")
    resolve_settings()
    assert "unknown key 'stroe' in the [tdprov] section (did you mean 'store'?)" in caplog.text


def _warnings_naming(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    import logging

    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


def test_a_store_setting_that_cannot_be_opened_is_warned_about_once_and_every_event_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    """A bad store setting logged a warning for every event (the DAG run's and the task's START, RUNNING, COMPLETE...):
    one per process for each place and value, while every event is still kept in the outbox and delivered once."""
    from prov_common.store import spool
    from prov_common.store.outbox import Outbox

    _run(tmp_path, monkeypatch, "tdprov_bad_store_once", store="gs://b/once")
    warned = _warnings_naming(caplog, "gs://b/once")
    assert len(warned) == 1, "\n".join(warned)
    assert "[tdprov] store = 'gs://b/once' cannot be opened" in warned[0] and "kept in the outbox" in warned[0]
    kept = [key for entry in Outbox(tmp_path / "spool").pending() for key in spool.read_keys(entry)]
    assert len(kept) >= 3 and len({key.split("/")[1] for key in kept}) == 2, kept  # the DAG run's and the task's events
    _events_kept_for(tmp_path / "spool", tmp_path / "good", "tdprov_bad_store_once.t", monkeypatch, capsys)
    staged = list(open_store(str(tmp_path / "good")).list("staging/"))
    assert sorted(staged) == sorted(set(kept)) and Outbox(tmp_path / "spool").pending() == []  # each once, none lost


@pytest.mark.parametrize("strict", [False, True])
def test_an_operators_own_connection_that_cannot_be_opened_is_named_not_the_listeners_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str], strict: bool) -> None:
    """A Pandera task with its own ``tdprov_conn_id`` whose host cannot be opened: the warning (source records not
    read) and the strict-mode error named no setting, or the listener's ``[tdprov] strict``. They name the connection's
    host (and its ``strict``), while the listener's store records the task's run once."""
    import json

    from prov_airflow.operators.pandera import PanderaValidationOperator

    WARNED.clear()
    UNOPENED_WARNED.clear()
    store = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_OPS", json.dumps({"conn_type": "tdprov", "host": "gs://b/ops",
                                                              "extra": {"strict": strict}}))
    src = tmp_path / "features.csv"
    pd.DataFrame({"id": [1, 2], "x": [1.0, 99.0]}).to_csv(src, index=False)
    dag_id = f"tdprov_ops_conn_{strict}"
    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PanderaValidationOperator(task_id="check", source=str(src), schema="airflow_dags.schemas:FEATURES",
                                  on_failure="warn", tdprov_conn_id="tdprov_ops")
    capsys.readouterr()
    assert run_dag(dag, logical_date=START).state == ("failed" if strict else "success")
    out, err = capsys.readouterr()
    logged = caplog.text + out + err  # the task's own log goes through Airflow's structlog to the terminal
    where = "the host of Airflow connection 'tdprov_ops' = 'gs://b/ops' cannot be opened"
    assert where in logged and "Fix: correct the host of Airflow connection 'tdprov_ops'" in logged, logged
    if strict:
        assert "tdprov strict mode (strict in the extra of Airflow connection 'tdprov_ops')" in logged, logged
        assert "[tdprov] strict" not in logged and "TDPROV_STRICT" not in logged
    else:
        named = [line for line in logged.splitlines() if "source records in gs://b/ops could not be read" in line]
        assert len(named) == 1 and where in named[0], named
    assert "[tdprov] store" not in logged and "TDPROV_STORE" not in logged  # the listener's store is fine
    task = [s for s in bundles_of(store) if s.job_name == f"{dag_id}.check"]
    assert [s.state for s in task] == (["FAIL"] if strict else ["COMPLETE"])


def test_a_listener_connection_that_is_not_defined_is_named_with_the_setting_that_names_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``[tdprov] conn_id`` naming no connection: the listener's error (logged at every hook) said to pass
    ``tdprov_conn_id=None``, an operator's argument the listener has none of. It names ``[tdprov] conn_id`` and says
    to unset it; an operator's own ``tdprov_conn_id`` is still told to pass None."""
    from prov_airflow.emitter import listener_settings
    from prov_airflow.hooks.provenance import ProvenanceHook
    from prov_common.errors import BadInputError

    monkeypatch.setenv("AIRFLOW__TDPROV__CONN_ID", "tdprov_nowhere")
    with pytest.raises(BadInputError) as raised:
        listener_settings()
    assert raised.value.what == ("Airflow connection 'tdprov_nowhere' (type tdprov) (named by [tdprov] conn_id) is not "
                                 "defined"), raised.value.what
    assert raised.value.fix == ("create it (airflow connections add tdprov_nowhere --conn-type tdprov --conn-host "
                                "<store URI>) or unset [tdprov] conn_id to use [tdprov]"), raised.value.fix
    with pytest.raises(BadInputError) as raised:
        ProvenanceHook("tdprov_nowhere").get_settings()
    assert raised.value.fix.endswith("or pass tdprov_conn_id=None to use [tdprov]"), raised.value.fix


def test_a_hook_that_cannot_record_names_the_dag_run_map_index_and_try(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Each hook that cannot record (here: a defect of the listener, its transport failing, as no setting makes it
    fail: one that cannot be used keeps the events in the outbox) is warned of; the warning named a task only by its DAG
    and task ids, so the tries of a mapped task (or of two runs of a DAG) could not be told apart, and a DAG run's named
    neither its DAG nor its run (and said the task was not affected). Each names its DAG run, a mapped task's index
    and the try."""
    import logging

    from prov_airflow import emitter

    def defect() -> None:
        raise RuntimeError("a defect of the listener")

    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(tmp_path / "store"))
    monkeypatch.setattr(emitter, "listener_transport", defect)
    with DAG("tdprov_hook_named", start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="m", python_callable=lambda x: None).expand(op_args=[[1], [2]])
    run = run_dag(dag, logical_date=START)
    assert run.state == "success"
    warned = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.WARNING and "could not record provenance" in r.getMessage()]
    for index in (0, 1):
        for hook in ("task running", "task success"):
            said = f"could not record provenance on {hook} of tdprov_hook_named.m (DAG run {run.run_id}, map index {index}, try 1)"
            assert len([m for m in warned if said in m]) == 1, (said, warned)
    said = f"could not record provenance on DAG run success of tdprov_hook_named (DAG run {run.run_id})"
    named = [m for m in warned if said in m]
    assert len(named) == 1 and "; the DAG run is not affected. Fix: " in named[0], warned
    assert "this is an error in tdprov's listener" in named[0], named
    assert not (tmp_path / "store").exists()  # nothing recorded: no transport


def test_a_listener_connection_that_is_not_defined_keeps_the_events_in_the_outbox(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    """``[tdprov] conn_id`` naming no connection lost every event of the run (each hook warned), whereas a store setting
    that cannot be opened keeps them. They are kept in the outbox of ``[tdprov] spool``, not written to the ``[tdprov]``
    store; one warning names the connection, ``[tdprov] conn_id`` and the fix; ``tdprov flush --store URI`` delivers
    them."""
    assert _run(tmp_path, monkeypatch, "tdprov_conn_nowhere", conn_id="tdprov_nowhere") == {}
    assert not _warnings_naming(caplog, "could not record provenance")  # each hook recorded
    warned = [m for m in _warnings_naming(caplog, "tdprov_nowhere") if "kept in the outbox" in m]
    assert len(warned) == 1, "\n".join(warned)
    assert ("Airflow connection 'tdprov_nowhere' (type tdprov) (named by [tdprov] conn_id) is not defined" in warned[0]
            and "kept in the outbox" in warned[0] and "Fix: create it" in warned[0]), warned[0]
    _events_kept_for(tmp_path / "spool", tmp_path / "good", "tdprov_conn_nowhere.t", monkeypatch, capsys)


def test_the_providers_transport_keeps_the_events_of_a_listener_connection_that_is_not_defined(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The transport the OpenLineage provider makes takes the listener's settings (the plugin's configuration defaults):
    with ``[tdprov] conn_id`` naming no connection they fell back to ``TDPROV_*``, so its bundles went to another store
    than the connection's. Its events are kept in the outbox of ``[tdprov] spool``, as the listener's are."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.uuid import generate_new_uuid

    from prov_airflow.emitter import configuration_defaults
    from prov_common.bundle import defaults

    UNOPENED_WARNED.clear()
    monkeypatch.setattr(defaults, "_defaults_source", configuration_defaults)  # as the plugin sets it
    for option, value in {"store": tmp_path / "store", "spool": tmp_path / "spool", "conn_id": "tdprov_nowhere"}.items():
        monkeypatch.setenv(f"AIRFLOW__TDPROV__{option.upper()}", str(value))
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "env-store"))
    client = OpenLineageClient(config={"transport": {"type": "prov_common.bundle.transport.ProvenanceTransport"}})
    run_id = str(generate_new_uuid())
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(RunEvent(eventType=state, eventTime="2026-01-01T00:00:00Z", run=Run(runId=run_id),
                             job=Job(namespace="ns", name="job"), producer="https://example.org/p"))
    assert not (tmp_path / "store").exists() and not (tmp_path / "env-store").exists()
    _events_kept_for(tmp_path / "spool", tmp_path / "good", "job", monkeypatch, capsys)


def test_an_aws_connection_of_the_listeners_connection_that_cannot_be_used_is_named_and_the_events_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    """The ``aws_conn_id`` of the ``[tdprov] conn_id`` connection naming an AWS connection the Amazon provider refuses
    (an ``assume_role_method`` it does not know): every hook warned of "an error in tdprov's listener" to report, and
    the run's events were lost. One warning names the AWS connection, what is wrong with it and the fix, and the events
    are kept in the outbox of the connection's spool for ``tdprov flush --store URI``."""
    import json

    WARNED.clear()
    UNOPENED_WARNED.clear()
    spool = tmp_path / "spool"
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_AWSBAD", json.dumps({
        "conn_type": "tdprov", "host": "s3://lineage/tdprov", "extra": {"aws_conn_id": "aws_bad", "spool": str(spool)}}))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_BAD", json.dumps({"conn_type": "aws", "extra": {
        "role_arn": "arn:aws:iam::123456789012:role/lineage", "assume_role_method": "assume_rol"}}))
    monkeypatch.setenv("AIRFLOW__TDPROV__CONN_ID", "tdprov_awsbad")
    with DAG("tdprov_aws_bad", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=lambda: None)
    assert run_dag(dag, logical_date=START).state == "success"
    assert not _warnings_naming(caplog, "could not record provenance")
    warned = _warnings_naming(caplog, "kept in the outbox")
    assert len(warned) == 1, "\n".join(warned)
    assert ("AWS connection 'aws_bad' (aws_conn_id of Airflow connection 'tdprov_awsbad') cannot be used: "
            "NotImplementedError: Found assume_role_method='assume_rol'" in warned[0]
            and "Fix: correct AWS connection 'aws_bad'" in warned[0]), warned[0]
    _events_kept_for(spool, tmp_path / "good", "tdprov_aws_bad.t", monkeypatch, capsys)


def test_a_listener_connection_the_secrets_backend_denies_is_named_not_taken_for_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    """Any error reading the connection was taken for "not defined", and ``tdprov_default`` not defined for no
    connection: with a secrets backend denying access to it (a vault policy), the listener quietly wrote the run to the
    ``[tdprov]`` store, not the connection's. The denial is named with the connection and the fix, and the events are
    kept in the outbox for ``tdprov flush --store URI``."""
    from airflow.sdk.configuration import clear_secrets_backends_cache

    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "airflow_dags.denied_secrets.DeniedBackend")
    clear_secrets_backends_cache()
    try:
        assert _run(tmp_path, monkeypatch, "tdprov_conn_denied", conn_id="tdprov_default") == {}
    finally:
        monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND")
        clear_secrets_backends_cache()
    warned = [m for m in _warnings_naming(caplog, "tdprov_default") if "kept in the outbox" in m]
    assert len(warned) == 1, "\n".join(warned)
    assert ("Airflow connection 'tdprov_default' (named by [tdprov] conn_id) could not be read: "
            "AirflowSecretsBackendAccessDenied: policy denies reading tdprov_default" in warned[0]), warned[0]
    _events_kept_for(tmp_path / "spool", tmp_path / "good", "tdprov_conn_denied.t", monkeypatch, capsys)


# -- the signing key ------------------------------------------------------------------------------------

def _said_of_signing_key(logged: str, missing: Path) -> list[str]:
    """The lines that tell of the signing key ``missing`` that cannot be read (that events are staged unsigned, that
    their run is not sealed)."""
    return [line for line in logged.splitlines() if f"signing key {missing} cannot be read" in line]


@pytest.mark.parametrize("where", ["[tdprov] signing_key", "signing_key in the extra of Airflow connection 'tdprov_keyed'"])
def test_a_listeners_signing_key_that_is_missing_is_named_as_the_setting_that_names_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str], where: str) -> None:
    """A listener whose ``[tdprov] signing_key`` (or its connection's extra) named a missing file warned that its events
    were staged unsigned and their run not sealed, with the fix to set ``TDPROV_SIGNING_KEY``, which that setting
    overrides. The fix names the setting the key came from."""
    import json

    from prov_common.bundle.transport import UNSIGNED_WARNED

    UNSIGNED_WARNED.clear()
    missing = tmp_path / "keys" / "writer.key"
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(tmp_path / "unused.key"))
    if where.startswith("[tdprov]"):
        options = {"signing_key": str(missing)}
    else:
        monkeypatch.setenv("AIRFLOW_CONN_TDPROV_KEYED", json.dumps({
            "conn_type": "tdprov", "host": str(tmp_path / "store"), "extra": {"signing_key": str(missing)}}))
        options = {"conn_id": "tdprov_keyed"}
    capsys.readouterr()
    assert _run(tmp_path, monkeypatch, f"tdprov_key_{len(where)}", **options) == {}  # staged, none sealed
    out, err = capsys.readouterr()
    said = _said_of_signing_key(caplog.text + out + err, missing)
    assert any("not sealed" in line for line in said) and any("not signed" in line for line in said), said
    for line in said:
        assert f"Fix: set {where} to a file from 'tdprov keygen'" in line and "TDPROV_SIGNING_KEY" not in line, line


def test_two_settings_naming_one_signing_key_each_name_their_own_setting_in_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The listener keeps one transport per process for what shapes it. ``[tdprov] signing_key`` and a connection's
    extra naming the same missing key (same store, same spool) shared the first one's transport, so the second run was
    told to fix the first one's setting. Each now names its own."""
    import json

    from prov_common.bundle.transport import UNSIGNED_WARNED

    missing = tmp_path / "keys" / "writer.key"
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_KEYED", json.dumps({
        "conn_type": "tdprov", "host": str(tmp_path / "store"), "extra": {"signing_key": str(missing)}}))
    for dag_id, options, where in (
            ("tdprov_key_setting", {"signing_key": str(missing)}, "[tdprov] signing_key"),
            ("tdprov_key_extra", {"conn_id": "tdprov_keyed"},
             "signing_key in the extra of Airflow connection 'tdprov_keyed'")):
        UNSIGNED_WARNED.clear()  # the warning is once per process and key: each run is told afresh
        monkeypatch.delenv("AIRFLOW__TDPROV__SIGNING_KEY", raising=False)
        caplog.clear()
        capsys.readouterr()
        assert _run(tmp_path, monkeypatch, dag_id, **options) == {}  # staged, none sealed
        out, err = capsys.readouterr()
        said = _said_of_signing_key(caplog.text + out + err, missing)
        assert said and all(f"Fix: set {where} to a file from 'tdprov keygen'" in line for line in said), (where, said)


@pytest.mark.parametrize("option", [True, False])
def test_the_providers_transport_names_the_signing_key_setting_it_took_when_the_key_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, option: bool) -> None:
    """The transport made from an OpenLineage configuration (the provider's ``[openlineage] transport``) gave the fix to
    set ``TDPROV_SIGNING_KEY`` for a missing key, though its ``signing_key`` option or the plugin's ``[tdprov]
    signing_key`` (its configuration defaults) overrides it. The fix names the one the key came from."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.uuid import generate_new_uuid

    from prov_airflow.emitter import configuration_defaults
    from prov_common.bundle import defaults
    from prov_common.bundle.transport import UNSIGNED_WARNED

    UNSIGNED_WARNED.clear()
    missing = tmp_path / "keys" / "writer.key"
    monkeypatch.setattr(defaults, "_defaults_source", configuration_defaults)  # as the plugin sets it
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(tmp_path / "store"))
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(tmp_path / "unused.key"))
    transport = {"type": "prov_common.bundle.transport.ProvenanceTransport"}
    if option:
        transport["signing_key"] = str(missing)
        monkeypatch.setenv("AIRFLOW__TDPROV__SIGNING_KEY", str(tmp_path / "overridden.key"))
    else:
        monkeypatch.setenv("AIRFLOW__TDPROV__SIGNING_KEY", str(missing))
    client = OpenLineageClient(config={"transport": transport})
    run_id = str(generate_new_uuid())
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(RunEvent(eventType=state, eventTime="2026-01-01T00:00:00Z", run=Run(runId=run_id),
                             job=Job(namespace="ns", name="job"), producer="https://example.org/p"))
    client.transport.close()
    said = _said_of_signing_key(caplog.text, missing)
    where = "transport option 'signing_key'" if option else "[tdprov] signing_key"
    assert any("not sealed" in line for line in said) and any("not signed" in line for line in said), caplog.text
    for line in said:
        assert f"Fix: set {where} to a file from 'tdprov keygen'" in line and "TDPROV_SIGNING_KEY" not in line, line


def test_the_bundle_link_of_a_listener_connection_that_is_not_defined_is_one_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With ``[tdprov] conn_id`` naming no connection, the events are kept in the outbox, but the "tdprov bundle" link
    of tdprov's operators, resolved when the task ends, logged the connection's error with a full traceback. It is one
    warning naming the connection and the fix, and the task gets no link (where its bundle will be is not known)."""
    from prov_airflow.decorators.provenance import provenance_task

    WARNED.clear()
    UNOPENED_WARNED.clear()
    for option, value in {"store": tmp_path / "store", "spool": tmp_path / "spool", "conn_id": "tdprov_nowhere"}.items():
        monkeypatch.setenv(f"AIRFLOW__TDPROV__{option.upper()}", str(value))
    with DAG("tdprov_link_nowhere", start_date=START, schedule=None) as dag:
        @provenance_task
        def make() -> pd.DataFrame:
            return pd.DataFrame({"id": [1, 2]})

        make()
    capsys.readouterr()
    assert run_dag(dag, logical_date=START).state == "success"
    out, err = capsys.readouterr()
    logged = caplog.text + out + err  # the task's own log goes through Airflow's structlog to the terminal
    assert "Traceback" not in logged, logged
    named = [line for line in logged.splitlines() if "no 'tdprov bundle' link" in line]
    assert len(named) == 1, logged
    assert ("Airflow connection 'tdprov_nowhere' (type tdprov) (named by [tdprov] conn_id) is not defined" in named[0]
            and "Fix: create it" in named[0]), named
    assert not (tmp_path / "store").exists()


def test_an_empty_override_of_the_hook_is_not_given_and_the_setting_below_it_is_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ProvenanceHook(None, signing_key="")`` took the empty text as the key: the key ``TDPROV_SIGNING_KEY`` names was
    discarded for the per-user key, while the fix of a key that cannot be had named ``TDPROV_SIGNING_KEY``
    (``signing_key_source``), and ``option_source`` named the hook. An empty override (text that is blank, an empty
    list) is not given, as an empty extra or ``[tdprov]`` option is not: the setting below it is taken and named (by
    ``option_source``, for the signing key too), for every option."""
    from prov_airflow.hooks.provenance import ProvenanceHook
    from prov_common.signing import load_signing_key, signing_key_from_settings, write_keypair

    private, public = write_keypair(tmp_path / "keys" / "writer.key")
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(private))
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(public))
    monkeypatch.setenv("TDPROV_STRICT", "1")
    monkeypatch.setenv("TDPROV_ISSUER", "Example Org")
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_BLANK", json.dumps({"conn_type": "tdprov", "extra": {"strict": "", "spool": " "}}))
    for hook in (ProvenanceHook(None, signing_key="", trusted_keys="", strict="", issuer=" "),
                 ProvenanceHook(None, signing_key=" ", trusted_keys=[]), ProvenanceHook("tdprov_blank", signing_key="")):
        settings = hook.get_settings()
        assert (settings.signing_key, settings.trusted_keys) == (str(private), (str(public),))
        assert (settings.strict, settings.issuer) == (True, "Example Org")
        for option in ("signing_key", "trusted_keys", "strict"):
            assert hook.option_source(option) == f"TDPROV_{option.upper()}"
        key = signing_key_from_settings(settings, hook.option_source("signing_key"))
        assert key.public == load_signing_key(private).public  # the configured key signs, not the per-user one
    monkeypatch.setenv("AIRFLOW__TDPROV__SIGNING_KEY", str(tmp_path / "keys" / "team.key"))
    hook = ProvenanceHook(None, signing_key="")
    assert hook.get_settings().signing_key == str(tmp_path / "keys" / "team.key")  # [tdprov] is below the hook
    assert hook.option_source("signing_key") == "[tdprov] signing_key"
    with pytest.raises(BadInputError) as refused:
        signing_key_from_settings(hook.get_settings(), hook.option_source("signing_key"))
    assert f"signing key {tmp_path}/keys/team.key cannot be read" in str(refused.value)
    assert "Fix: set [tdprov] signing_key to a file from 'tdprov keygen'" in str(refused.value)


@pytest.mark.parametrize("option", ["strict", "snapshot"])
def test_a_tdprov_option_present_but_empty_in_airflow_cfg_is_not_named_as_where_it_is_set(
        option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``strict =`` (or ``snapshot =``) left empty in airflow.cfg's ``[tdprov]`` is not given, so ``TDPROV_STRICT``
    turned strict mode on; but the strict task's error said ``tdprov strict mode ([tdprov] strict)``, sending the user
    to an option that gives nothing. The option that gave the value is named: ``TDPROV_STRICT``."""
    import json

    from airflow.providers.common.compat.sdk import conf

    from prov_airflow.hooks.provenance import ProvenanceHook
    from prov_airflow.operators.pandera import PanderaValidationOperator
    from prov_airflow.settings import resolve_settings, setting_source

    WARNED.clear()
    UNOPENED_WARNED.clear()
    store = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv(f"TDPROV_{option.upper()}", "1")
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_GS", json.dumps({"conn_type": "tdprov", "host": "gs://b/ops"}))
    conf.read_string(f"[tdprov]\n{option} =\n")  # as airflow.cfg holding the option with no value
    try:
        assert conf.has_option("tdprov", option) and conf.get("tdprov", option) == ""
        assert getattr(resolve_settings(), option) is True  # TDPROV_* gave it
        assert setting_source(option) == f"TDPROV_{option.upper()}"
        assert ProvenanceHook("tdprov_gs").option_source(option) == f"TDPROV_{option.upper()}"
        if option == "strict":
            src = tmp_path / "features.csv"
            pd.DataFrame({"id": [1, 2], "x": [1.0, 99.0]}).to_csv(src, index=False)
            with DAG("tdprov_empty_cfg_strict", start_date=START, schedule=None) as dag:
                PanderaValidationOperator(task_id="check", source=str(src), schema="airflow_dags.schemas:FEATURES",
                                          on_failure="warn", tdprov_conn_id="tdprov_gs")
            capsys.readouterr()
            assert run_dag(dag, logical_date=START).state == "failed"
            out, err = capsys.readouterr()
            logged = caplog.text + out + err
            assert "tdprov strict mode (TDPROV_STRICT): store gs://b/ops cannot be used" in logged, logged
            assert "turn TDPROV_STRICT off" in logged and "[tdprov] strict" not in logged, logged
    finally:
        conf.remove_option("tdprov", option)
    assert not conf.has_option("tdprov", option) or conf.get("tdprov", option) != ""


def test_the_tdprov_section_airflow_generates_leaves_tdprov_env_in_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The airflow.cfg Airflow generates holds every ``[tdprov]`` option with its default (``strict = False``), which
    cannot be told from a value written by hand: taking it as set would turn ``TDPROV_STRICT`` and ``TDPROV_SNAPSHOT``
    off wherever the file was generated. Such a default is not set; ``AIRFLOW__TDPROV__STRICT=False`` still wins."""
    import configparser
    import io

    from airflow.providers.common.compat.sdk import conf

    from prov_airflow.settings import resolve_settings, setting_source

    generated = io.StringIO()
    conf.write(generated, include_sources=False, include_env_vars=True, include_providers=True, extra_spacing=True,
               only_defaults=True, show_values=True)  # as Airflow writes a missing airflow.cfg
    written = configparser.ConfigParser(interpolation=None)
    written.read_string(generated.getvalue())
    section = dict(written["tdprov"])
    assert section["strict"] == "False" and section["snapshot"] == "False"
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text("[tdprov]\n" + "".join(f"{key} = {value}\n" for key, value in section.items()))
    monkeypatch.setenv("TDPROV_STRICT", "1")
    monkeypatch.setenv("TDPROV_SNAPSHOT", "1")
    assert conf.read(cfg) == [str(cfg)]
    try:
        settings = resolve_settings()
        assert settings.strict is True and settings.snapshot is True
        assert setting_source("strict") == "TDPROV_STRICT" and setting_source("snapshot") == "TDPROV_SNAPSHOT"
        monkeypatch.setenv("AIRFLOW__TDPROV__STRICT", "False")
        assert resolve_settings().strict is False and setting_source("strict") == "[tdprov] strict"
    finally:
        for key in section:
            conf.remove_option("tdprov", key, remove_default=False)


@pytest.mark.parametrize(("written", "other"), [("false", "true"), ("FALSE", "TRUE"), ("0", "1"), ("no", "yes"),
                                               ("off", "on"), (" Off ", "On")])
def test_a_default_written_by_hand_in_any_case_leaves_tdprov_env_in_force(
        written: str, other: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``strict = false`` written by hand in airflow.cfg (or ``0``, ``no``, ``off``, any case) means the option's default
    as ``strict = False`` does, yet only the text ``False`` was taken as not set: ``false`` was taken as set and
    turned ``TDPROV_STRICT=1`` off, where docs/airflow.md says a value equal to the default leaves ``TDPROV_*`` in force.
    A yes/no option's default is told by its meaning; a value that means the other (``TRUE``) is set and wins, and
    ``AIRFLOW__TDPROV__STRICT=false`` still always wins."""
    from airflow.providers.common.compat.sdk import conf

    from prov_airflow.settings import resolve_settings, setting_source

    WARNED.clear()
    monkeypatch.setenv("TDPROV_STRICT", "1")
    monkeypatch.setenv("TDPROV_SNAPSHOT", "1")
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(f"[tdprov]\nstrict = {written}\nsnapshot = {written}\n")
    assert conf.read(cfg) == [str(cfg)]
    try:
        assert conf.get("tdprov", "strict") == written.strip()
        settings = resolve_settings()
        assert (settings.strict, settings.snapshot) == (True, True)
        assert (setting_source("strict"), setting_source("snapshot")) == ("TDPROV_STRICT", "TDPROV_SNAPSHOT")
        monkeypatch.setenv("AIRFLOW__TDPROV__STRICT", written)
        assert resolve_settings().strict is False and setting_source("strict") == "[tdprov] strict"
        monkeypatch.delenv("AIRFLOW__TDPROV__STRICT")
        monkeypatch.setenv("TDPROV_STRICT", "0")
        conf.set("tdprov", "strict", other)
        assert resolve_settings().strict is True and setting_source("strict") == "[tdprov] strict"
    finally:
        for key in ("strict", "snapshot"):
            conf.remove_option("tdprov", key, remove_default=False)
