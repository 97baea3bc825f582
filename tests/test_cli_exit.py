"""Exit codes survive the interpreter's exit: runs of ``tdprov hash --diff`` (worker threads, Arrow and
BLAKE3 native threads) started several at a time all exit 1 with nothing on stderr.
The same loop with 500 runs is ``scripts/exit_codes.py``."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "exit_codes.py"


def _script():
    spec = importlib.util.spec_from_file_location("exit_codes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_four_runs_at_once_of_hash_diff_all_exit_1(tmp_path: Path) -> None:
    """One batch of four at once (the loop's load); the 500-run loop is ``scripts/exit_codes.py``."""
    script = _script()
    a, b = script.make_tables(tmp_path)
    codes, odd = script.run_many(4, 4, a, b)
    assert dict(codes) == {1: 4}, (codes, odd)
    assert odd == []
    same, _ = script.run_many(2, 2, a, a)
    assert dict(same) == {0: 2}  # equal tables: exit 0, so the loop would see a wrong code


def _verbs(parser, path: str = ""):
    """Every verb and sub-verb under ``parser``: (its words, its parser)."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}".strip(), sub
                yield from _verbs(sub, f"{path} {name}")


def test_every_verb_and_sub_verb_has_a_description_and_an_example() -> None:
    """The README promises '--help with an example' for every verb; 'source add', 'source list', 'store init' and
    'store repair' had neither description nor example."""
    from prov_common.cli import build_parser

    lacking = [name for name, sub in _verbs(build_parser()) if not sub.description or "example:" not in (sub.epilog or "")]
    assert lacking == [], lacking


def test_no_help_text_counts_in_brackets() -> None:
    """'tdprov store seal --help' said "the run(s) to seal": help text says one or many in words."""
    from prov_common.cli import build_parser

    marked = [name for name, sub in _verbs(build_parser()) if "(s)" in sub.format_help()]
    assert marked == [], marked
    seal = dict(_verbs(build_parser()))["store seal"].format_help()
    assert "one or more runs to seal, each as the audit names it" in " ".join(seal.split()), seal


def test_every_help_fits_80_columns_and_its_examples_still_read_whole(monkeypatch) -> None:
    """'tdprov snapshot --help' printed a description line of 173 characters, 'audit' one of 554 and an example of 124:
    every help text is wrapped to the terminal, an example command over lines ending in a shell continuation that
    gives back the command as written."""
    import re
    import shlex

    from prov_common.cli import build_parser

    monkeypatch.setenv("COLUMNS", "80")
    root = build_parser()
    helps = {"": root.format_help(), **{name: sub.format_help() for name, sub in _verbs(root)}}
    wide = {name: line for name, text in helps.items() for line in text.splitlines() if len(line) > 80}
    assert wide == {}, wide
    assert "restores the folder. Prints one JSON line per PATH with the digest. With" in " ".join(helps["snapshot"].split())
    examples = {name: text.split("\nexample:\n", 1)[1] for name, text in helps.items() if name}
    assert "tdprov audit --store s3://ml-prov/prod --rehash --report ./audit-report \\\n      --witness " in examples["audit"]
    for name, sub in _verbs(root):
        written = [shlex.split(line, comments=True) for line in sub.epilog.splitlines()[1:]]
        shown = [shlex.split(line, comments=True) for line in re.sub(r" \\\n", " ", examples[name]).splitlines()]
        assert [w for w in shown if w] == [w for w in written if w], name


def test_a_verb_s_writes_are_done_or_spooled_when_its_process_ends(s3_server, s3_bucket: str, tmp_path: Path,
                                                                      monkeypatch) -> None:
    """The console command ends with ``os._exit``, which runs no ``atexit`` hook, so tdprov's exit wait (the
    transports' settle) does not run there: a write a verb left under way in the background would be lost with the
    process. No verb leaves one: 'tdprov store seal', the verb that writes through a transport, seals in its own thread
    and closes its transport within the exit bound before it returns. Here its store stops answering once the seal's
    first bundle object is put: the process ends naming the run spooled (exit 1), the spool holds the rest of the
    bundle, and 'tdprov flush' delivers it with the store back, a bundle that verifies with the run's event."""
    import time
    import uuid

    from s3_proxy import HangingProxy

    from bundle_support import run_events
    from prov_common.bundle import layout, read_bundle, verify_bundle
    from prov_common.bundle.events import parse_events_jsonl
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.signing import trust_from_settings
    from prov_common.store import Outbox, open_store

    store_uri, spool = f"s3://{s3_bucket}/prov", tmp_path / "spool"
    monkeypatch.setenv("TDPROV_SPOOL", str(spool))
    start, _ = run_events(str(uuid.uuid4()))
    run_id = start["run"]["runId"]
    staging = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True))
    staging.emit(start)  # staged; the run is never ended, so the seal needs --force
    assert staging.close()
    proxy = HangingProxy(("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1])))
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": proxy.endpoint, "TDPROV_STORE_CONNECT_TIMEOUT": "1",
           "TDPROV_STORE_READ_TIMEOUT": "1", "TDPROV_STORE_MAX_ATTEMPTS": "1", "TDPROV_EXIT_TIMEOUT": "30"}
    proxy.hang_after(f"PUT /{s3_bucket}/prov/{layout.bundle_key(run_id, '')}".encode())
    try:
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "prov_common", "store", "seal", "--store", store_uri, "--force",
                               run_id], env=env, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - began
    finally:
        proxy.close()
    assert proxy.tripped is not None, done.stderr  # the store stopped answering in the middle of the bundle's write
    assert done.returncode == 1 and done.stdout.split() == ["spooled", run_id], (done.stdout, done.stderr)
    assert took < 25, took  # a few calls' timeouts, not the exit bound
    store = open_store(store_uri)
    assert not store.exists(layout.bundle_key(run_id, layout.STATEMENT_FILE))
    outbox = Outbox(spool)
    assert len(outbox.pending()) == 1
    assert outbox.flush(store).ok and outbox.pending() == []
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    assert [e["eventType"] for e in parse_events_jsonl(read_bundle(store, run_id).files["events.jsonl"])] == ["START"]


STEP_EVENTS = Path(__file__).resolve().parent / "data" / "ol_events" / "tdprov_step.jsonl"


def test_output_into_a_pipe_nobody_reads_exits_0_saying_nothing() -> None:
    """``tdprov prov FILE | head -0``: the reader is gone before the verb writes (its end closed before the start, so
    the write always fails); the verb stops without a traceback or an 'Exception ignored' line, exit 0."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "prov_common", "prov", str(STEP_EVENTS)], stdout=write,
                              stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (0, b"")


def test_a_broken_pipe_that_is_not_stdout_is_a_failure_and_leaves_stderr_open(monkeypatch, capsys) -> None:
    """A ``BrokenPipeError`` from elsewhere (here the serialiser's, on purpose) while stdout is not a pipe is a refusal
    naming it, exit 2; ``main`` closed the process's stderr and returned 0 for any broken pipe, which in a
    long-running process (this test's) left every later write to stderr failing."""
    from prov_common.cli import main, prov

    def broken(*_args, **_kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(prov, "serialize", broken)
    assert main(["prov", str(STEP_EVENTS)]) == 2
    assert not sys.stderr.closed
    err = capsys.readouterr().err
    assert err.startswith("tdprov prov: unexpected BrokenPipeError: [Errno 32] Broken pipe."), err
