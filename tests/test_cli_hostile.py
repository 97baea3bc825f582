"""Every verb with hostile arguments: exit 2, one line on stderr naming the thing and the fix, no traceback.

The sweep covers every verb the parser has (a test fails when a verb is added without cases), runs
each case through the real entry point in this process (so an escaping exception fails the test), and
a sample of them as real processes (so nothing prints a traceback at exit either). Reading verbs never
create a store: a mistyped store is exit 2 and the folder stays absent.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bundle_support import run_events, seal_events_file
from mount_support import read_only, small_files
from prov_common.cli import build_parser, main
from prov_common.errors import BadInputError

TYPO = "/nonexistent-tdprov-store/typo"
MISSING = "/missing-tdprov-dir/out"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("hostile")
    (root / "t.csv").write_text("a,b\n1,x\n2,y\n")
    (root / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (root / "deep.jsonl").write_text("[" * 200_000 + "]" * 200_000 + "\n")
    events = root / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in run_events(str(uuid.uuid4()))))
    (root / "nul.jsonl").write_bytes(b"\x00\xff\xfe{" * 100)
    (root / "a_folder").mkdir()
    store = root / "store"
    assert main(["store", "init", str(store)]) == 0  # a store that exists, for the verbs that need one
    return {"csv": str(root / "t.csv"), "deep": str(root / "deep.json"), "deepl": str(root / "deep.jsonl"),
            "events": str(events), "nul": str(root / "nul.jsonl"), "folder": str(root / "a_folder"), "store": str(store)}


def _cases(f: dict[str, str]) -> dict[str, list[list[str]]]:
    s = ["--store", f["store"]]
    return {
        "audit": [["--store", TYPO], ["--stale-hours", "nan", *s], ["--stale-hours", "inf", *s], ["--stale-hours", "-1", *s], ["--stale-hours", "1e308", *s],
                  ["--stale-hours", "soon", *s], ["--report", f["csv"], *s], ["--report", MISSING + "/deeper", *s],
                  ["--report", "r" * 300, *s]],  # a name too long for the file system: an OSError argparse let through
        "checkout": [["blake3:" + "0" * 64, "-o", "x", "--store", TYPO], ["not-a-digest", "-o", MISSING, *s], []],
        "contains": [["blake3:" + "0" * 64, "--record", "{}", "--store", TYPO], ["nodigest", "--record", "[[[", *s],
                     ["blake3:" + "0" * 64, "--record", "@/dev/zero", *s], ["blake3:" + "0" * 64, "--record", "@" + f["folder"], *s]],
        "export": [["--store", TYPO], ["-o", MISSING, *s], ["-o", f["folder"], *s], ["--format", "docx", *s],
                   ["--since", "yesterday-ish", *s]],
        "flush": [["--spool", f["csv"]], ["--spool", TYPO]],
        "graph": [[f["events"], "-o", MISSING + ".svg"], [f["deepl"], "-o", f["folder"] + "/x.svg"], [TYPO, "-o", "x.svg"],
                  [f["events"], "-o", "x.docx"]],
        "hash": [["--csv-dtype", "a=NotAType", f["csv"]], ["--csv-dtype", "nodtype", f["csv"]],
                 ["--row-digests", MISSING + "/x", f["csv"]], ["s3://nobucket-tdprov/x.csv"], [TYPO], [f["folder"]],
                 ["--diff", f["csv"]], ["--diff", "-", "-"], [f["deepl"]], [f["nul"]],
                 ["file://[x/y"],  # a URI no URL parser reads: it was an unexpected ValueError
                 ["--workers", "100000", f["folder"]]],  # a Dask LocalCluster of 100,000 processes
        "keygen": [["-o", MISSING + "/k"], ["-o", f["folder"]]],
        "lineage": [["model", "--store", TYPO], ["model", "--depth", "-3", *s], ["model", "-o", MISSING + ".svg", *s]],
        "prov": [[f["events"], "-o", MISSING], [f["events"], "-o", f["folder"]], [f["deepl"]], [f["nul"]], [TYPO],
                 [f["csv"]]],
        "prove": [["--store", TYPO], ["not-a-run", *s], ["--consistency", "9", "-1", *s]],
        "record": [["model", "--store", TYPO], ["model", "-o", MISSING, *s], ["model", "--format", "pdf", *s]],
        "runs": [["--store", TYPO], ["--limit", "-5", *s], ["--limit", "many", *s], ["--store", f["csv"]],
                 ["--store", "file://"], ["--store", "file://host/x"]],
        "show": [["not/a/run", *s], [str(uuid.uuid4()), "--store", TYPO]],
        "snapshot": [[f["csv"], "--store", TYPO], [MISSING, *s], [f["folder"], *s], [f["csv"], "--dataset", "x", "--store", f["csv"]],
                     ["file://[x/y", *s]],
        "source": [["add", f["csv"], "--name", "n", "--license", "MIT", "--issuer", "me", "--personal-columns", "nosuchcol", *s],
                   ["add", f["csv"], "--name", "n", "--license", "MIT", "--issuer", "me", "--confidential-columns", "b,zz", *s],
                   ["add", TYPO, "--name", "n", "--license", "MIT", "--issuer", "me", *s], ["list", "--store", TYPO]],
        "store": [["repair", "--store", TYPO], ["init", "s3://"], ["init", f["csv"]], ["frobnicate"]],
        "verify": [["--store", TYPO], ["--trusted-keys", TYPO, *s], ["not/a/run", *s], ["--workers", "100000", *s]],
    }


def test_every_verb_has_hostile_cases(files) -> None:
    parser = build_parser()
    verbs = set(next(a for a in parser._actions if a.dest == "verb").choices)
    assert verbs == set(_cases(files)), verbs ^ set(_cases(files))


def _one_line_error(err: str, verb: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith(f"tdprov {verb}") and "Fix:" in lines[0], err
    assert ": unexpected " not in lines[0], err  # an error no check of tdprov's names: its fix cannot say what to change
    return lines[0]


def test_hostile_arguments_exit_2_with_one_line(files, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.chdir(files["folder"])
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    failures = []
    for verb, cases in _cases(files).items():
        for args in cases:
            try:
                code = main([verb, *args])
            except SystemExit as exit_:  # argparse usage errors
                code = exit_.code
            err = capsys.readouterr().err
            try:
                assert code == 2, f"exit {code}"
                _one_line_error(err, verb)
            except AssertionError as exc:
                failures.append(f"tdprov {verb} {' '.join(args)}: {exc}")
    assert failures == [], "\n".join(failures)
    assert not Path(TYPO).exists() and not Path(TYPO).parent.exists()  # reading verbs created no store
    assert not Path(MISSING).parent.exists()  # nor any output folder


@pytest.mark.parametrize("args", [
    ["audit", "--store", TYPO], ["runs", "--store", TYPO], ["hash", "--csv-dtype", "a=NotAType", "{csv}"],
    ["prov", "{deepl}"], ["hash", "{deepl}"], ["export", "-o", MISSING, "--store", "{store}"],
])
def test_hostile_arguments_in_a_real_process(args: list[str], files) -> None:
    argv = [a.format(**files) for a in args]
    done = subprocess.run([sys.executable, "-m", "prov_common", *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr)
    _one_line_error(done.stderr, argv[0])
    assert not Path(TYPO).parent.exists()


def test_audit_of_a_read_only_store_is_one_line(files, tmp_path: Path, capsys) -> None:
    store = tmp_path / "ro"
    assert main(["store", "init", str(store)]) == 0
    capsys.readouterr()
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    with read_only(store):  # a read-only mount as root (CI), mode 0555 otherwise
        with pytest.raises(OSError):
            (store / "probe").write_bytes(b"x")  # really refused, whoever runs the test
        code = main(["audit", "--store", str(store)])
        err = capsys.readouterr().err
    assert code == 2
    assert str(store) in _one_line_error(err, "audit")
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before  # nothing written


def test_store_init_makes_the_store_that_reading_verbs_then_accept(tmp_path: Path, capsys) -> None:
    store = tmp_path / "new"
    assert main(["runs", "--store", str(store)]) == 2 and not store.exists()
    assert main(["store", "init", str(store)]) == 0 and store.is_dir()
    capsys.readouterr()
    assert main(["runs", "--store", str(store)]) == 0
    assert main(["verify", "--store", str(store)]) == 0


def _sealed_store(tmp_path: Path, events: list[dict[str, Any]] | None = None) -> tuple[Path, dict[str, str], str]:
    """A local store holding one sealed run (of ``events``, else :func:`run_events`), the environment that reads it (its
    signer's home), and the run id."""
    from test_audit_support import seal

    from prov_common.store import open_store

    store, home = tmp_path / "store", tmp_path / "home"
    env = {"TDPROV_HOME": str(home), "TDPROV_STORE": str(store)}
    os.environ.update(env)  # this process seals with the key the subprocesses trust
    try:
        run = seal(open_store(str(store)), events or run_events())
    finally:
        for name in env:
            os.environ.pop(name, None)
    return store, env, run


def _sealed_store_read_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """:func:`_sealed_store`, its environment set in this process (for verbs run with :func:`_verb`): the store and
    the run id."""
    store, env, run = _sealed_store(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return store, run


def _tdprov(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prov_common", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_a_named_pipe_or_device_in_a_local_store_is_a_finding_never_a_hang(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                          caplog: pytest.LogCaptureFixture,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A named pipe in place of a bundle's events (and a link to a device in place of its PROV) would block
    or feed a reader without end: verify and the full audit name each as unreadable (the link as a link, which no read
    follows in a store) and finish (exit 1);
    a pipeline whose staging holds a pipe still seals the run it saw; a key file that is a device or too
    large is refused in one line (exit 2)."""
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    bundle = store / "bundles" / run
    (bundle / "events.jsonl").unlink()
    os.mkfifo(bundle / "events.jsonl")
    (bundle / "prov.json").unlink()
    (bundle / "prov.json").symlink_to("/dev/zero")
    for args in (["verify", run], ["audit", "--full", "--json"]):
        code, out = _verb(args, capsys, caplog)  # a read that blocked would hang here until the suite's timeout
        assert code == 1, (args, out)
        assert "events.jsonl is a named pipe, not a regular file" in out and "prov.json is a symbolic link (to /dev/zero)" in out, (args, out)
    staged = str(uuid.uuid4())
    (store / "staging" / staged).mkdir(parents=True)
    os.mkfifo(store / "staging" / staged / "0-pipe.json")
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store), timeout=5.0))
    results = [transport.emit(e) for e in run_events(staged)]
    assert results[-1].status == "written"  # the run's own events are sealed, the pipe named in a warning
    (tmp_path / "zero.pub").symlink_to("/dev/zero")
    (tmp_path / "big.pub").write_bytes(b"-" * 100_000)
    for key, said in (("zero.pub", "is a device"), ("big.pub", "is larger than 65,536 bytes")):
        monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(tmp_path / key))
        code, out, err = _said_here(["verify", run], capsys, caplog)
        assert code == 2 and not out and said in err and len(err.strip().splitlines()) == 1, err


def test_a_socket_in_a_local_store_is_a_finding_not_an_outage(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              caplog: pytest.LogCaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket in place of a bundle's events stopped verify and the full audit (exit 2) with 'cannot read ... No such
    device or address. Fix: check that the folder (or its network mount) is reachable', so one planted file hid every
    other finding of the store: each names it as unreadable and finishes (exit 1), as for a named pipe."""
    import socket

    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    bundle = store / "bundles" / run
    (bundle / "events.jsonl").unlink()
    with socket.socket(socket.AF_UNIX) as planted:
        with monkeypatch.context() as here:
            here.chdir(bundle)  # a socket's path is short: bound relative to its folder
            planted.bind("events.jsonl")
        for args in (["verify", run], ["audit", "--full", "--json"]):
            code, out = _verb(args, capsys, caplog)
            assert code == 1, (args, out)
            assert "events.jsonl is a socket, not a regular file" in out and "No such device" not in out, (args, out)


def test_an_object_far_larger_than_it_can_be_is_refused_not_read_whole(tmp_path: Path) -> None:
    """A signed statement grown to 2 GiB (sparse: no disk used) and events grown past the size the manifest
    gives them: verify reads at most a bounded prefix of each and names them (exit 1), where it read
    the whole 2 GiB into memory before."""
    from prov_common.bundle import layout

    store, env, run = _sealed_store(tmp_path)
    bundle = store / "bundles" / run
    os.truncate(bundle / "statement.dsse.json", 2 << 30)
    events = bundle / "events.jsonl"
    os.truncate(events, events.stat().st_size + 1)
    done = _tdprov("verify", run, env=env)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert f"statement.dsse.json' in local folder {store} is larger than {layout.SMALL_OBJECT_LIMIT:,} bytes" in out, out
    listed = events.stat().st_size - 1
    assert f"events.jsonl: digest mismatch: more bytes than the {listed:,} the manifest says it holds" in out, out


def test_a_symlink_loop_in_a_local_store_is_a_failing_bundle_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                          caplog: pytest.LogCaptureFixture,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A link from inside the store back to its root (tdprov never writes links) is walked once: verify and
    the audit finish and name it, instead of stopping with a file-system error."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    (store / "bundles" / "zloop").symlink_to("..")
    code, out, err = _said_here(["verify"], capsys, caplog)
    assert code == 1 and f"OK    {run}" in out and "FAIL  zloop" in out, out + err
    code, said = _verb(["audit", "--quiet"], capsys, caplog)  # no traceback, as _verb checks
    assert code in (0, 1), said



def test_a_link_to_itself_in_a_local_store_is_one_object_named_not_a_stop(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                          caplog: pytest.LogCaptureFixture,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A link to itself ('bundles/loopy' -> 'loopy', and one in a day's folder of the index) made every listing of the
    store fail ("cannot list 'bundles/': Too many levels of symbolic links"): verify, the audit, record and runs stopped
    for the whole store (exit 2). Each is listed as one object, the link, and named (verify: the folder of run 'loopy'
    cannot be listed, that bundle's finding); the sound run is read as usual."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    (store / "bundles" / "loopy").symlink_to("loopy")
    (entry,) = (store / "index").rglob("*.json")
    stray_run = str(uuid.uuid4())
    stray = entry.with_name(f"20261201T000000000000Z-{stray_run}.json")
    stray.symlink_to(stray.name)
    shown = stray.relative_to(store).as_posix()  # verify names its run, which has no bundle; the others the entry
    for argv, code in ((["verify"], 1), (["audit", "--full"], 1), (["runs"], 1),  # runs: listed without the stray run, a finding
                       (["record", "s3://lake/clean/users.parquet", "-o", str(tmp_path / "r.json")], 1)):
        got, said = _verb(argv, capsys, caplog)
        assert got == code and "cannot list 'bundles/' in" not in said and "cannot list 'index/" not in said, (argv, got, said)
        assert argv[0] in ("record", "runs") or "bundles/loopy" in said, (argv, said)
        assert argv[0] == "record" or (stray_run if argv[0] == "verify" else shown) in said, (argv, said)
        assert argv[0] == "record" or run in said, (argv, said)


def test_a_named_pipe_in_place_of_an_index_entry_is_a_damaged_entry(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                     caplog: pytest.LogCaptureFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reader of an index entry reads it one way (bounded, regular files only): a named pipe there is
    a damaged entry to verify, the audit and the listing alike, which name it and go on; none stops."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    (entry,) = (store / "index").rglob("*.json")
    entry.unlink()
    os.mkfifo(entry)
    code, out, err = _said_here(["verify"], capsys, caplog)
    assert code == 1 and "is not a bundle summary" in out and "named pipe" in out, out + err
    code, out, err = _said_here(["audit", "--json"], capsys, caplog)
    assert code == 1 and "named pipe" in out, err
    code, out, err = _said_here(["runs"], capsys, caplog)
    assert code == 0 and run in out and "named pipe" in err and "named pipe" not in out, (out, err)


@pytest.mark.parametrize("field, value", [("endedAt", 5), ("keyId", ["k"]), ("version", True), ("startedAt", 5),
                                          ("storeId", 5)])
def test_an_index_entry_with_a_number_where_text_belongs_is_a_damaged_entry(field: str, value: object, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture,
                                                                            caplog: pytest.LogCaptureFixture,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An index entry whose end time, key id or a dataset's version is a number, a list or true (not text) was taken
    as read: 'runs' and 'lineage' then stopped for the whole store ("unexpected AttributeError: 'int' object has no
    attribute 'translate'"). The entry is refused where it is read: a damaged entry named by its key, the run
    listed from its bundle."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    (entry,) = (store / "index").rglob("*.json")
    raw = json.loads(entry.read_text())
    (raw["inputs"][0] if field == "version" else raw)[field] = value
    entry.write_text(json.dumps(raw))
    key = entry.relative_to(store).as_posix()
    for argv, code in ((["runs"], 0), (["lineage", "s3://lake/clean/users.parquet"], 0), (["verify"], 1)):
        got, said = _verb(argv, capsys, caplog)
        assert got == code and "unexpected" not in said and key in said and f"{field} is " in said, (argv, got, said)
        assert run in said, (argv, said)


def _named_run(store: str, job: str, output: str, source: str | None = None) -> tuple[str, dict]:
    """Record a run of job ``job`` writing dataset ``s3://lake``/``output`` (and reading ``s3://lake``/``source``, which
    no run wrote: a completeness finding for the audit) through the transport; its id and the output."""
    from bundle_support import dataset, event
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    run_id = str(uuid.uuid4())
    out_ds = dataset("s3://lake", output, "blake3:" + "2" * 64)
    inputs = [dataset("s3://lake", source, "blake3:" + "1" * 64)] if source is not None else []
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z", job=job, inputs=inputs))
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", job=job, inputs=inputs, outputs=[out_ds]))
    transport.close()
    return run_id, out_ds


def test_control_characters_in_recorded_names_never_reach_the_terminal(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A producer names its job and datasets with an OSC title, a screen clear, a carriage return, a
    right-to-left override, an Arabic letter mark (a bidi control) and zero-width characters: runs, show,
    lineage, audit and an error print them escaped, never raw."""
    from prov_common.cli import main

    invisible = "\u061c\u200b\u200c\u200d\u2060\ufeff"
    evil = f"x\x1b]0;PWNED\x07\x1b[2J\r\u202e{invisible}exe.txt"
    store = str(tmp_path / "store")
    run_id, _ = _named_run(store, f"job{evil}", f"model{evil}", source=f"raw{evil}")
    for argv in (["runs"], ["show", run_id], ["lineage", f"s3://lake/model{evil}"], ["lineage", f"nothing{evil}"],
                 ["audit", "--report", str(tmp_path / "report")]):
        main([*argv, "--store", store])
        out, err = capsys.readouterr()
        assert "exe.txt" in out + err, argv
        for raw in ("\x1b", "\r", "\x07", "\u202e", *invisible):
            assert raw not in out and raw not in err, (argv, hex(ord(raw)), out, err)
        assert "\\x1b]0;PWNED\\x07" in out + err and "\\u202e\\u061c\\u200b\\u200c\\u200d\\u2060\\ufeff" in out + err, argv


def test_control_characters_in_a_key_never_reach_the_terminal_on_stderr(tmp_path: Path) -> None:
    """An index entry named with a terminal title sequence and a right-to-left override (a key of an S3 store may hold
    any character; a local file name too) is left out of runs, export and record with a warning and a line naming
    it on stderr: those quoted the key raw, so the store retitled the terminal and reordered the line. Every line on
    stderr shows them escaped, as stdout does."""
    store, env, run = _sealed_store(tmp_path)
    (entry,) = (store / "index").rglob("*.json")
    hostile = "\x1b]0;pwned\x07\u202e"
    entry.with_name(f"20261201T000000000000Z-{hostile}.json").write_text("{}")
    for argv in (["runs"], ["export", "-o", str(tmp_path / "p.json")],
                 ["export", "--training-record", "s3://lake/clean/users.parquet", "-o", str(tmp_path / "r.json")]):
        done = _tdprov(*argv, env=env)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, (argv, done.stderr)
        assert "\\x1b]0;pwned\\x07\\u202e" in done.stderr, (argv, done.stderr)
        assert "\x1b" not in done.stderr + done.stdout and "\u202e" not in done.stderr + done.stdout, (argv, done.stderr)


def test_a_newline_in_a_recorded_name_cannot_add_a_line(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A job named with a newline and a fake run row after it, a dataset and a file named with a newline and a
    fake digest line, an input named with a newline and a fake audit check line: runs, show, lineage, hash
    and audit (its findings, and the same findings once accepted) printed the forged lines as lines of their
    own. Within a line, a newline is shown as \\n (as sha256sum shows file names)."""
    from prov_common.cli import main

    forged_run = "00000000-0000-4000-8000-000000000000  dagster://default/approved_by_legal  COMPLETE"
    forged_digest = "blake3:" + "0" * 64 + "  trusted.parquet"
    forged_check = "   pass  Completeness: approved by legal (1 checked)"
    store = str(tmp_path / "store")
    run_id, out_ds = _named_run(store, f"train\n{forged_run}", f"model\n{forged_digest}", source=f"raw\n{forged_check}\n{forged_check}")
    data = tmp_path / f"a\n{forged_digest}.csv"
    data.write_text("id\n1\n")
    report = str(tmp_path / "report")
    for argv in (["runs", "--store", store], ["show", run_id, "--store", store], ["lineage", out_ds["namespace"] + "/" + out_ds["name"], "--store", store],
                 ["hash", str(data)], ["audit", "--report", report, "--store", store],
                 ["audit", "--accept-finding", run_id, "--reason", f"ok\n{forged_check}", "--report", report, "--store", store]):
        main(argv)
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert not [line for line in lines if line.startswith((forged_run[:36], "blake3:" + "0" * 64, forged_check))], (argv, out)
        assert "\\n" in out, (argv, out)
    assert f"accepted: s3://lake/raw\\n{forged_check}\\n{forged_check}" in out, out


def test_one_long_job_name_does_not_widen_every_row_of_runs(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A job named with 10,000 characters padded the header and every other run's row to 10,000 columns; its cell
    is shortened from the left with '…' to the column's cap, and --json keeps the whole name."""
    from prov_common.cli import main
    from prov_common.cli.runs import MAX_COLUMN_WIDTH

    store = str(tmp_path / "store")
    long_job = "team/" + "n" * 10_000 + "/train_end"
    _named_run(store, long_job, "long_model")
    _named_run(store, "short_job", "short_model")
    assert main(["runs", "--store", store]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    long_row = next(row for row in rows if "long_model" in row)
    short_row = next(row for row in rows if "short_model" in row)
    assert header.index("STATE") <= 36 + 2 + MAX_COLUMN_WIDTH + 2, header
    assert len(long_row) == len(short_row) - len("short_model") + len("long_model") < 200, long_row
    job_cell = long_row.split()[1]
    assert job_cell.startswith("…") and job_cell.endswith("nnnn/train_end") and len(job_cell) == MAX_COLUMN_WIDTH, job_cell
    assert main(["runs", "--json", "--store", store]) == 0
    assert long_job in {run["job"]["name"] for run in json.loads(capsys.readouterr().out)}


def _cells(text: str) -> int:
    """Terminal cells of ``text`` as a terminal shows it: wide and full-width characters two, combining marks none."""
    import unicodedata

    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_runs_columns_line_up_in_terminal_cells_with_cjk_and_emoji_names(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A job named in Chinese (each character two terminal cells wide) was padded by characters: the STATE column of
    its row started half a name further right than the others'. Columns are measured in cells (combining marks none),
    and a long wide name is shortened to the cap in cells."""
    from prov_common.cli import main
    from prov_common.cli.runs import MAX_COLUMN_WIDTH

    cells = _cells
    store = str(tmp_path / "store")
    for job, output in (("训练模型/数据清洗", "cjk_model"), ("team/🚀launch", "emoji_model"),
                        ("cafe\u0301/job", "combining_model"), ("short_job", "ascii_model"), ("长" * 100, "long_model")):
        _named_run(store, job, output)
    assert main(["runs", "--store", store]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    state_at = cells(header[:header.index("STATE")])
    for row in rows:
        assert cells(row[:row.index("COMPLETE")]) == state_at, (row, header)
    long_cell = next(row for row in rows if "long_model" in row).split()[1]
    assert long_cell.startswith("…长") and cells(long_cell) <= MAX_COLUMN_WIDTH, long_cell


def test_a_run_with_many_outputs_shows_whole_outputs_up_to_the_cap_in_runs(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A run writing 200 datasets printed one OUTPUTS cell of every output (a line of thousands of characters); the
    cell holds whole outputs (each names its version when pasted) up to the column cap and counts the others, and
    --json keeps them all."""
    from bundle_support import dataset, event
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.cli import main
    from prov_common.cli.runs import MAX_COLUMN_WIDTH

    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    outputs = [dataset("s3://lake", f"part-{i:03d}", "blake3:" + f"{i:02x}" * 32) for i in range(200)]
    run_id = str(uuid.uuid4())
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z", job="split"))
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", job="split", outputs=outputs))
    transport.close()
    assert main(["runs", "--store", store]) == 0
    header, line = capsys.readouterr().out.splitlines()
    cell = line[header.index("OUTPUTS"):]
    assert cell.startswith("s3://lake/part-000@blake3:000000000000, ") and cell.endswith(" more"), cell
    assert len(cell) <= MAX_COLUMN_WIDTH, cell
    shown = cell.split(", ")[:-1]
    assert int(cell.rsplit("+", 1)[1].split()[0]) == 200 - len(shown), cell
    assert main(["runs", "--json", "--store", store]) == 0
    assert len(json.loads(capsys.readouterr().out)[0]["outputs"]) == 200


def test_a_lineage_hundreds_of_runs_deep_is_told_with_a_fix(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A dataset rewritten in place 400 times, each run reading the previous version: the tree is too deep to
    walk; the error names the lineage and --depth (it said 'the input is nested too deeply: flatten it')."""
    from datetime import timedelta

    from prov_common.cli import main
    from prov_common.store import open_store
    from test_audit_support import T0, dataset, digest, run_events, seal

    uri = str(tmp_path / "store")
    store = open_store(uri)
    for i in range(400):
        inputs = [dataset("/data/users.parquet", digest(str(i - 1)))] if i else []
        seal(store, run_events("refresh", inputs, [dataset("/data/users.parquet", digest(str(i)))], start=T0 + timedelta(hours=i)))
    assert main(["lineage", "/data/users.parquet", "--store", uri]) == 2
    err = capsys.readouterr().err
    assert "lineage of '/data/users.parquet' is too deep to show as a tree" in err and "--depth N" in err, err
    assert main(["lineage", "/data/users.parquet", "--depth", "50", "--store", uri]) == 0
    assert capsys.readouterr().out.count("generated by refresh") == 50


def test_a_tdprov_home_that_is_a_file_is_bad_input_not_a_tamper_alarm(tmp_path, capsys: pytest.CaptureFixture,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """TDPROV_HOME set to a file: verify said every bundle was signed by an untrusted key (exit 1, a finding); it
    is bad input naming TDPROV_HOME (exit 2)."""
    from prov_common.cli import main

    store, env, run = _sealed_store(tmp_path)
    monkeypatch.setenv("TDPROV_HOME", "/dev/null")
    monkeypatch.delenv("TDPROV_TRUSTED_KEYS", raising=False)
    assert main(["verify", "--store", str(store)]) == 2
    out, err = capsys.readouterr()
    assert "untrusted" not in out and "the tdprov home /dev/null (TDPROV_HOME) is not a folder" in err, (out, err)


def test_output_that_cannot_be_written_names_the_output(tmp_path) -> None:
    """'tdprov export > /dev/full' said "cannot use: No space left on device", naming nothing."""
    store, env, run = _sealed_store(tmp_path)
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "prov_common", "export", "--store", str(store)], stdout=full,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, **env}, timeout=120)
    assert done.returncode == 2 and "cannot use the output (stdout, or where it is redirected): No space left on device" in done.stderr, \
        done.stderr


DEEP = "[" * 100_000 + "]" * 100_000  # 200 KB that any writer of the store could put


def _nest(value: object, levels: int) -> object:
    """``value`` inside ``levels`` one-key objects."""
    for _ in range(levels):
        value = {"k": value}
    return value


def test_json_nesting_is_bounded_and_refused_as_malformed_json() -> None:
    """Nesting past MAX_DEPTH is a ValueError (as invalid JSON is), never a RecursionError, at any depth."""
    from prov_common.canonical_json import MAX_DEPTH, NestingError, loads

    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert loads(json.dumps({"a": ["[" * 5000]})) == {"a": ["[" * 5000]}  # brackets in text are no nesting
    tricky = ["\\", '\\"[', '"' + "{" * 300, "\u225b[名"]  # escaped quotes and backslashes before brackets in text
    nested = [tricky] * 300
    for depth in (MAX_DEPTH - 1, MAX_DEPTH):
        for text in (json.dumps(_nest(nested, depth - 2)), json.dumps(_nest(nested, depth - 2), ensure_ascii=False)):
            assert loads(text) == _nest(nested, depth - 2) and loads(text.encode("utf-16")) == loads(text), depth
    deeper = json.dumps(_nest(nested, MAX_DEPTH - 1))
    for deep in ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), DEEP, DEEP.encode(), '{"a":' * 600 + "1" + "}" * 600,
                 deeper, deeper.encode("utf-16")):
        with pytest.raises(NestingError, match=f"nested more than {MAX_DEPTH} levels") as raised:
            loads(deep)
        assert isinstance(raised.value, ValueError)


def test_numbers_json_has_not_are_refused_as_malformed_json() -> None:
    """NaN, Infinity and a number beyond a double (1e999999, which Python reads as infinity) are invalid JSON, as
    canonical JSON has none of them: a ValueError like any other, never a float that later stops a count. An integer
    past the digits Python reads was refused in Python's words ('use sys.set_int_max_str_digits() to increase the
    limit'), which 'tdprov prov' and 'graph' showed as the reason."""
    from prov_common.canonical_json import loads

    assert loads("[1.5, -1e308, 0]") == [1.5, -1e308, 0]
    for text, said in (('{"n": 1e999999}', "number 1e999999 is beyond what a double holds"), ("[-1e400]", "-1e400"),
                       ("[NaN]", "NaN is not a JSON number"), ('{"a": -Infinity}', "-Infinity is not a JSON number"),
                       ('{"n": -' + "9" * 5000 + "}", r"^an integer of 5,000 digits is longer than tdprov reads \(4,300 digits\)$")):
        with pytest.raises(ValueError, match=said):  # not Python's own words ('use sys.set_int_max_str_digits()')
            loads(text)


@pytest.mark.parametrize("number", ["1e999999", "-1e999999"])
def test_a_count_beyond_a_double_is_a_malformed_manifest_not_a_stop(number: str, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest whose eventCount is 1e999999 stopped verify, audit, show, lineage, export and runs --verified for the
    whole store ("unexpected OverflowError: cannot convert float infinity to integer"). It is a malformed manifest,
    named by its key; the other run of the store is verified as usual."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    from test_audit_support import seal

    from prov_common.store import open_store

    other = seal(open_store(str(store)), run_events())
    manifest = store / "bundles" / run / "manifest.json"
    raw = manifest.read_bytes()
    manifest.unlink()
    manifest.write_bytes(raw.replace(b'"eventCount":2', b'"eventCount":' + number.encode()))
    key = f"bundles/{run}/manifest.json"
    for argv, code in ((["verify"], 1), (["verify", run], 1), (["audit", "--full", "--json"], 1), (["runs", "--verified"], 1)):
        got, said = _verb(argv, capsys, caplog)
        assert got == code and "OverflowError" not in said and key in said and "beyond what a double holds" in said, (argv, got, said)
        assert argv[-1] == run or other in said, (argv, said)
    got, said = _verb(["show", run], capsys, caplog)
    assert got == 2 and "OverflowError" not in said and key in said, said


def _listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, added: int) -> tuple[str, str]:
    """A sealed run (in this process's environment) whose manifest lists ``added`` more files, none of them stored, and
    another run that verifies: (the run, the other run)."""
    from test_audit_support import seal

    from prov_common.store import open_store

    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    other = seal(open_store(str(store)), run_events())
    manifest = store / "bundles" / run / "manifest.json"
    raw = json.loads(manifest.read_text())
    raw["files"] += [{"path": f"extra/{i}", "digest": "blake3:" + "0" * 64, "size": 1} for i in range(added)]
    manifest.unlink()
    manifest.write_text(json.dumps(raw))
    return run, other


def test_a_manifest_listing_more_files_than_a_bundle_holds_is_malformed_before_any_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest naming 500,000 files (55 MB, under the bound of a manifest's bytes) cost 'verify RUN' 22 s and 506 MB
    and the audit more than 12 minutes, one finding per file. A manifest listing more files than a writer puts in a
    bundle (here a lowered bound) is malformed, named by its key, before any of its files is looked for."""
    from prov_common.bundle import model

    monkeypatch.setattr(model, "MANIFEST_FILES_MAX", 20)
    run, other = _listing(tmp_path, monkeypatch, 19)  # with events.jsonl and prov.json: 21 files
    key = f"bundles/{run}/manifest.json"
    for argv in (["verify", run], ["verify"], ["audit", "--full"]):
        code, said = _verb(argv, capsys, caplog)
        assert code == 1 and f"{key} is not a bundle manifest (ValueError: it lists 21 files, more than a bundle tdprov " \
                             "writes holds (20))" in said and "extra/" not in said, (argv, said)
        assert argv == ["verify", run] or other in said, (argv, said)


def test_the_files_of_a_bundle_with_one_problem_are_one_finding(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                  caplog: pytest.LogCaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file of a bundle that is listed and not stored was a finding of its own, each told by verify and the
    audit: thousands of lines (and minutes of audit) for one damaged bundle. More than ten files with one problem are
    one finding of the bundle, naming ten and counting the rest."""
    run, _ = _listing(tmp_path, monkeypatch, 15)
    named = (f"bundles/{run}/: missing: 15 files of the bundle ({', '.join(f'extra/{i}' for i in range(10))} and 5 more); "
             "extra/0: the object is listed but not in the store")
    code, said = _verb(["verify", run], capsys, caplog)
    assert code == 1 and named in said and "extra/14" not in said, said
    for _ in range(2):  # the audit that logs the run, and the next, which finds the listed files gone from the logged run
        code, said = _verb(["audit", "--full", "--json"], capsys, caplog)
        assert code == 1 and said.count(named.split(": ", 1)[1]) == 1 and "the file 'extra/" not in said, said
    assert f"15 files of logged run {run} are missing (extra/0, extra/1, extra/10, " in said, said


def test_the_audit_remembers_the_files_of_a_bundle_that_does_not_verify_in_linear_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit that logged a run whose bundle did not verify looked each of its files up in a list of them all: 85 s
    for a manifest of 90,000 files, once its missing files were one finding (which names none of them, so every file is
    remembered as unverified). Each file is remembered as unverified, each looked up once (counted as comparisons of
    its key: a list of them all compares about half of them per file)."""
    from prov_common.audit.inventory import UNVERIFIED, Listing, remember_runs
    from prov_common.audit.memory import AuditorMemory
    from prov_common.bundle import layout

    compared = [0]

    class Key(str):
        __hash__ = str.__hash__

        def __eq__(self, other: object) -> bool:
            compared[0] += 1
            return str.__eq__(self, other)

    bundle_key = layout.bundle_key
    monkeypatch.setattr(layout, "bundle_key", lambda run_id, name: Key(bundle_key(run_id, name)))
    run, index_key = str(uuid.uuid4()), "index/2026/01/01/20260101T000000000000Z-x.json"
    paths = [f"extra/{i}" for i in range(2_000)]
    keys = [bundle_key(run, p) for p in paths]
    memory = AuditorMemory("store")
    remember_runs(memory, Listing(tags=dict.fromkeys(keys, "1:t")), [(run, index_key)], {run: paths},
                  {run: [f"bundles/{run}/"]})
    assert [memory.tags[k] for k in keys] == [UNVERIFIED] * len(keys)
    assert compared[0] < 10 * len(paths), compared[0]  # a list of them all: about 2,000,000


def test_the_audit_remembers_as_unverified_only_the_files_a_folded_finding_names(
        tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle with more than ten files missing is one finding of its folder, which named none of its files to the
    audit that logged the run: every file of the bundle was remembered as unverified, and once the missing files were
    restored the next audit noted each file that had verified all along ('did not verify when first listed'), one line
    per file. Only the files the finding counts are remembered as unverified: restored, they are taken back, none noted."""
    from prov_common.bundle.build import build_bundle
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.signing import default_signing_key
    from prov_common.store import open_store
    from prov_common.store.identity import writer_store_id

    store_path = tmp_path / "store"
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TDPROV_STORE", str(store_path))
    store = open_store(str(store_path))
    kept = {f"extra/kept{i}": b"kept %d" % i for i in range(3)}
    lost = {f"extra/lost{i}": b"lost %d" % i for i in range(12)}
    bundle = build_bundle(run_events(), {**kept, **lost}, default_signing_key(), store_id=writer_store_id(store))
    deliver_bundle(store, bundle)
    folder = store_path / "bundles" / bundle.run_id
    for path in lost:
        (folder / path).unlink()
    code, said = _verb(["audit"], capsys, caplog)
    assert code == 1 and "12 files of the bundle (extra/lost0, " in said, said
    for path, data in lost.items():
        (folder / path).write_bytes(data)
    code, said = _verb(["audit"], capsys, caplog)
    assert "did not verify when first listed" not in said and "extra/kept" not in said, said


def test_the_files_of_a_logged_bundle_taken_back_alike_are_one_note(
        tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than ten files of a logged bundle restored after they did not verify, or rewritten with the same bytes (a
    restore from a backup), were one note each on the next audit, thousands for a large bundle. Alike, they are one note
    of the bundle naming ten and counting the rest, with every file in its items; a few are still noted one by one."""
    from prov_common.bundle.build import build_bundle
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.signing import default_signing_key
    from prov_common.store import open_store
    from prov_common.store.identity import writer_store_id

    store_path = tmp_path / "store"
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TDPROV_STORE", str(store_path))
    store = open_store(str(store_path))
    files = {f"extra/f{i:02d}": b"file %d" % i for i in range(14)}
    bundle = build_bundle(run_events(), files, default_signing_key(), store_id=writer_store_id(store))
    deliver_bundle(store, bundle)
    folder, run = store_path / "bundles" / bundle.run_id, bundle.run_id
    shown = ", ".join(f"extra/f{i:02d}" for i in range(10))

    def rewrite(count: int, data: Callable[[str], bytes]) -> None:
        for path in list(files)[:count]:
            (folder / path).unlink()
            (folder / path).write_bytes(data(path))

    rewrite(12, lambda path: b"altered")
    assert _verb(["audit"], capsys, caplog)[0] == 1  # logged, its 12 altered files remembered as unverified
    rewrite(12, files.__getitem__)
    _verb(["audit", "--report", str(tmp_path / "report")], capsys, caplog)  # an input of no recorded run: exit 1
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    [note] = [f for c in report["checks"] for f in c["findings"] if f.get("runId") == run and "fingerprint" in f["what"]]
    assert note["object"] == f"bundles/{run}/" and note["what"].startswith(
        f"12 files of logged run {run} did not verify when first listed ({shown} and 2 more); the bundle was verified")
    assert note["items"] == [f"bundles/{run}/{p}" for p in list(files)[:12]]
    rewrite(11, files.__getitem__)
    said = _verb(["audit"], capsys, caplog)[1]
    assert f"11 files of logged run {run} were rewritten ({shown} and 1 more); the bundle was " in said, said
    assert "the file 'extra/" not in said, said
    rewrite(2, files.__getitem__)
    said = _verb(["audit"], capsys, caplog)[1]
    assert said.count(f"of logged run {run} was rewritten (size:tag ") == 2 and "files of logged run" not in said, said


def _said_here(argv: list[str], capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``tdprov argv`` run in this process (its warnings, which the command line prints
    on stderr, are on stderr here too); no traceback. What was said before it is left out."""
    capsys.readouterr()
    caplog.clear()
    code = main(argv)
    out, err = capsys.readouterr()
    err += caplog.text
    caplog.clear()
    assert "Traceback" not in out + err, (argv, out, err)
    return code, out, err


def _verb(argv: list[str], capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    """Exit code and everything ``tdprov argv`` said (stdout, stderr, warnings), run in this process."""
    code, out, err = _said_here(argv, capsys, caplog)
    return code, out + err


def test_one_deeply_nested_object_is_one_damaged_object_not_a_stop(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                   caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200 KB '[[[...]]]' put by a writer as an index entry, a source record or a sealed run's manifest stopped
    audit, runs, export, source list, verify, show and record for the whole store (exit 2, 'flatten it', no
    object named, no report). Each is now a damaged object named by its key; the other runs are read as usual."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    assert main(["audit", "--quiet"]) in (0, 1)  # a finding of its own: the raw input traces to no source
    capsys.readouterr()
    (entry,) = (store / "index").rglob("*.json")
    stray_run = str(uuid.uuid4())
    stray = entry.with_name(f"20261201T000000000000Z-{stray_run}.json")
    stray.write_text(DEEP)
    for argv, code in ((["verify"], 1), (["audit", "--json"], 1), (["audit", "--full", "--json"], 1),
                       (["runs"], 1), (["record", "s3://lake/clean/users.parquet", "-o", str(tmp_path / "r.json")], 1),
                       (["export", "-o", str(tmp_path / "prov.json")], 1)):  # listed, recorded, exported without it: a finding
        got, said = _verb(argv, capsys, caplog)  # verify names the entry's run: it has no bundle; the others the entry
        assert got == code and stray_run in said and "flatten" not in said, (argv, got, said)
    source = store / "sources" / "vendor" / ("e" * 64 + ".json")
    source.parent.mkdir(parents=True)
    source.write_text(DEEP)
    for argv in (["source", "list"], ["audit", "--full", "--json"]):
        got, said = _verb(argv, capsys, caplog)
        assert got == 1 and f"sources/vendor/{source.name}" in said and "flatten" not in said, (argv, got, said)
    assert run in _verb(["runs"], capsys, caplog)[1]  # the sound run is still listed
    assert len(list((store / "audit" / "reports").iterdir())) == 4  # each audit published its report
    source.unlink()

    manifest = store / "bundles" / run / "manifest.json"
    manifest.unlink()
    manifest.write_text(DEEP)
    key = f"bundles/{run}/manifest.json"
    for argv, codes in ((["verify"], {1}), (["audit", "--full", "--json"], {1}), (["show", run], {2}),
                        (["export", "-o", str(tmp_path / "p.json")], {1}), (["lineage", "s3://lake/clean/users.parquet"], {0, 2}),
                        (["record", "s3://lake/clean/users.parquet"], {0, 1, 2})):
        got, said = _verb(argv, capsys, caplog)  # lineage and record: the run as the last audit catalogued it, or left out
        assert got in codes and "flatten" not in said and "too deep to show as a tree" not in said, (argv, got, said)
        assert got == 0 or key in said or f"left out run {run}" in said or (got == 1 and f"left out run {stray_run}" in said), (argv, got, said)
    assert "nested more than 200 levels" in _verb(["verify", run], capsys, caplog)[1]


def test_a_file_name_that_is_not_utf8_is_a_finding_shown_escaped(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file named b'\\xff.json' under index/ (any writer of a local store can make one) stopped every audit when
    the report was written (UnicodeEncodeError: nothing published) and 'runs' named no key. Its name is listed
    escaped: a finding naming 'index/.../\\xff.json', the report published, runs, verify and repair go on."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    (entry,) = (store / "index").rglob("*.json")
    with open(os.fsencode(entry.parent) + b"/\xff.json", "wb") as stray:
        stray.write(b"{}")
    shown = f"{entry.parent.relative_to(store).as_posix()}/\\xff.json"
    code, said = _verb(["audit", "--json", "--report", str(tmp_path / "report")], capsys, caplog)
    assert code == 1 and any(f["object"] == shown for f in json.loads(said[:said.rindex("}") + 1])["findings"]), said
    for name in ("report.json", "report.html"):
        text = (tmp_path / "report" / name).read_bytes().decode("utf-8")  # valid UTF-8: no lone surrogate
        assert "\\xff.json" in text and "\\udcff" not in text, name
    for argv, code in ((["audit", "--full"], 1), (["runs"], 1), (["verify"], 1), (["store", "repair"], 0)):  # runs: listed without it
        got, said = _verb(argv, capsys, caplog)
        assert got == code and "UnicodeEncodeError" not in said, (argv, got, said)
        assert argv[0] == "store" or shown in said, (argv, said)
    assert run in _verb(["runs"], capsys, caplog)[1]


def test_export_reads_a_bundle_file_no_further_than_its_manifest_says(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                      caplog: pytest.LogCaptureFixture,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """'tdprov export' read every file a manifest lists whole: events.jsonl grown (sparse) to 256 MiB cost 256 MB of
    memory. It reads only the file it needs (prov.json, or the events when their mapping is older), and no
    further than the size the manifest gives it: a file grown past that is refused, named as 'tdprov verify' names it
    (it said "object ... is larger than N bytes", where verify says a digest mismatch of more bytes than listed)."""
    store, env, run = _sealed_store(tmp_path)
    bundle = store / "bundles" / run
    os.truncate(bundle / "events.jsonl", 256 << 20)
    measured = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
                "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", measured, sys.executable, "-m", "prov_common", "export", "-o", str(tmp_path / "p.json")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    code, peak_kib = map(int, done.stdout.split())
    assert code == 0 and peak_kib < 200_000, (done.stdout, done.stderr)
    prov = bundle / "prov.json"
    listed = prov.stat().st_size
    os.truncate(prov, listed + 1)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _out, err = _said_here(["export", "-o", str(tmp_path / "p.json")], capsys, caplog)
    assert code == 1 and f"left out run {run}: " in err, err
    # in the words of 'tdprov verify' (a digest mismatch, read no further), with the store
    assert (f"(bundles/{run}/prov.json in local folder {store}: digest mismatch: more bytes than the {listed:,} the manifest "
            "says it holds (not read further))") in err, err
    said = _verb(["verify", run], capsys, caplog)[1]
    assert f"bundles/{run}/prov.json: digest mismatch: more bytes than the {listed:,} the manifest says it holds (not read " \
           "further)" in said, said


def _many_events(count: int, pad: int) -> list[dict[str, Any]]:
    """The events of one run: its START, ``count`` RUNNING events each with a run facet of ``pad`` characters of its
    own (a long run's progress), and its COMPLETE."""
    start, complete = run_events()
    running = [{**start, "eventType": "RUNNING",
                "run": {**start["run"], "facets": {"progress": {"_producer": "p", "_schemaURL": "https://p/s.json#/$defs/P",
                                                                "step": i, "note": "n" * pad}}}} for i in range(count)]
    return [start, *running, complete]


@pytest.fixture(scope="module")
def large_trusted_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """One local store (:func:`_sealed_store`) of one run of :func:`_many_events` (10,000 RUNNING events of 1,500
    characters each, a 21 MB events.jsonl) in job 'big.load' of DAG 'big': every event names its parent run, the
    progress events no dataset (verifying them holds no more than the file and its fold). Only read by the tests
    that take it."""
    events = _many_events(10_000, 1_500)
    parent = {"parent": {"_producer": "p", "_schemaURL": "https://p/s.json#/$defs/P",
                         "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "tests", "name": "big"}}}
    for e in events:
        e["job"] = {**e["job"], "name": "big.load"}
        e.update({"inputs": [], "outputs": []} if e["eventType"] == "RUNNING" else {})
        e["run"] = {**e["run"], "facets": {**e["run"]["facets"], **parent}}
    return _sealed_store(tmp_path_factory.mktemp("large"), events)


def test_verify_and_the_bundle_sensor_of_a_large_trusted_bundle_hold_the_file_not_its_events_parsed_again(
        large_trusted_bundle: tuple[Path, dict[str, str], str], capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Verifying a bundle a trusted key signed parsed its events.jsonl whole, ordered the events again and rebuilt the
    file: 45 MB of 20,002 events cost 406 MB (177 MB of 110,002 events, 1.52 GB). Events as a bundle is written are
    folded line by line, checked canonical, unique and in order as they come: about the file and a bounded part of it
    parsed, with the same verdict, and 'tdprov show' lists every event as before.

    The Airflow bundle sensor told a verified candidate's DAG run by parsing its events.jsonl whole (233 MB of
    110,002 events: 1.16 GB at peak; 42 MB of 20,002: 247 MB). It takes the parent run from the events as its
    verification folded them, parsing none again: about what verifying it costs (96 MB here), and the task of the DAG
    is still told from the parent run its signed events name (another DAG's job_dag= does not take it)."""
    store, env, run = large_trusted_bundle
    assert (store / "bundles" / run / "events.jsonl").stat().st_size > 20_000_000
    # One process imports Airflow once and forks a child per case, each child's peak reset to its size at the fork
    # (VmHWM): what a process of its own holds, for one import of Airflow instead of one per case. The child of
    # 'verify' runs the command line's main, as 'tdprov verify' does.
    forked = textwrap.dedent("""
        import contextlib, io, os, sys, traceback
        from prov_airflow.matching import BundleQuery, find_bundle
        from prov_common.cli import main
        from prov_common.signing import trust_from_settings
        from prov_common.store import open_store
        for case in sys.argv[3:]:
            if os.fork():
                code = os.waitstatus_to_exitcode(os.wait()[1])
                print(case, code, flush=True)
                continue
            try:
                with open("/proc/self/clear_refs", "w") as refs:
                    refs.write("5")  # the peak from here, as in a process of its own
                if case == "verify":
                    said = io.StringIO()
                    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                        got = main(["verify", sys.argv[2]])
                    taken = f"{got}:{'OK    ' + sys.argv[2] in said.getvalue()}"
                else:
                    found = find_bundle(open_store(sys.argv[1]), BundleQuery(job="big.load", job_dag=case, since="2000-01-01"),
                                        trust_from_settings())
                    taken = found.run_id if found else None
                peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
                print(case, taken, peak, flush=True)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        """)
    done = subprocess.run([sys.executable, "-c", forked, str(store), run, "verify", "big", "big.load"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})
    said = [line.split() for line in done.stdout.splitlines()]
    assert done.returncode == 0 and len(said) == 6, (done.stdout, done.stderr)
    # verify: folded as written about 99 MB; the events parsed whole as well, about 155 MB. The sensor: verifying it
    # costs about 96 MB here (a forked child holds about 7 MB less of its libraries than a process of its own); the
    # events parsed again, about 133 MB
    for (case, taken, bound), (shown, got, peak_kib), ended in zip(
            (("verify", "0:True", 125_000), ("big", run, 115_000), ("big.load", "None", 115_000)), said[0::2], said[1::2]):
        assert (shown, got, ended) == (case, taken, [case, "0"]) and int(peak_kib) < bound, (case, done.stdout, done.stderr)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["show", run, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["events"]
    assert len(listed) == 10_002 and [e["eventType"] for e in (listed[0], listed[1], listed[-1])] == ["START", "RUNNING", "COMPLETE"]


def test_verify_reads_an_attachment_no_further_than_its_listed_size_and_one_byte(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                                 caplog: pytest.LogCaptureFixture,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An attachment was hashed to its end however large: one listed at 10 bytes whose object grew (sparse) to 50 GB
    made 'tdprov verify' read 50 GB. More bytes than listed cannot be the file sealed: it is read no further than its
    listed size and one byte, and named as a grown events or PROV file is (a digest mismatch of more bytes than
    listed), in a second of time."""
    from bundle_support import run_events

    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.signing import default_signing_key
    from prov_common.store import open_store
    from prov_common.store.identity import writer_store_id

    store = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store))  # and this test's TDPROV_HOME (conftest), which the process below takes
    opened = open_store(str(store))
    bundle = build_bundle(run_events(), {"quality/samples.json": b"0123456789"}, default_signing_key(),
                          store_id=writer_store_id(opened))
    deliver_bundle(opened, bundle)
    attachment = store / "bundles" / bundle.run_id / "quality" / "samples.json"
    assert _verb(["verify", bundle.run_id], capsys, caplog)[0] == 0
    os.truncate(attachment, 50 << 30)
    # a process of its own, ended if it reads on: a read to the end would take minutes
    done = subprocess.run([sys.executable, "-m", "prov_common", "verify", bundle.run_id], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 1 and (f"bundles/{bundle.run_id}/quality/samples.json: digest mismatch: more bytes than "
                                     "the 10 the manifest says it holds (not read further)") in done.stdout, done.stdout


def test_the_audit_reads_no_further_than_a_small_object_the_events_of_a_bundle_whose_manifest_is_gone(tmp_path: Path) -> None:
    """A run in the index whose manifest is gone and whose events.jsonl is grown (sparse) to 256 MiB: with no manifest to
    size them, the audit read the events whole (256 MB of memory) to make the run's record. It reads them no further
    than layout.SMALL_OBJECT_LIMIT, as verify does with no manifest, and names the bundle (exit 1)."""
    store, env, run = _sealed_store(tmp_path)
    bundle = store / "bundles" / run
    (bundle / "manifest.json").unlink()
    os.truncate(bundle / "events.jsonl", 256 << 20)
    measured = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(done.stdout + done.stderr)")
    done = subprocess.run([sys.executable, "-c", measured, sys.executable, "-m", "prov_common", "audit", "--full"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    head, said = done.stdout.split("\n", 1)
    code, peak_kib = map(int, head.split())
    assert code == 1 and peak_kib < 200_000, (head, said, done.stderr)
    assert f"bundles/{run}/manifest.json" in said, said


def test_a_bundle_that_cannot_be_read_costs_its_run_not_the_export(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest that is not UTF-8, and an index entry whose bundle is not there, each stopped 'tdprov export' (every
    format) and 'tdprov lineage --checks' at the first such run (exit 2, "Fix: run 'tdprov export --help'"), with
    nothing written for the rest of the store. Each is a run left out, named with why; the rest is exported (exit 1)."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    from test_audit_support import seal

    from prov_common.store import open_store

    sound = seal(open_store(str(store)), run_events())
    manifest = store / "bundles" / run / "manifest.json"
    raw = manifest.read_bytes()
    manifest.unlink()
    manifest.write_bytes(raw.replace(b'"state"', b'"st\xffate"'))
    entry = next((store / "index").rglob(f"*-{sound}.json"))
    ghost = str(uuid.uuid4())
    entry.with_name(entry.name.replace(sound, ghost)).write_bytes(entry.read_bytes().replace(sound.encode(), ghost.encode()))
    for fmt in ("json", "ttl"):
        out = tmp_path / f"prov.{fmt}"
        got, said = _verb(["export", "-f", fmt, "-o", str(out)], capsys, caplog)
        assert got == 1 and "--help" not in said and "PROV of 1 bundle" in said, (fmt, said)
        assert f"left out run {run}: " in said and f"bundles/{run}/manifest.json is not a bundle manifest" in said, said
        assert f"left out run {ghost}: " in said and f"no sealed bundle for run {ghost}" in said, said
        assert sound in out.read_text() and run not in out.read_text(), fmt
    got, said = _verb(["lineage", "--checks", "s3://lake/clean/users.parquet"], capsys, caplog)
    assert got == 1 and "--help" not in said and f"run {sound}" in said and f"left out run {run}: " in said, said


def _forge_prov(store: Path, run: str, records: int) -> None:
    """Grow the ``prov.json`` of ``run`` to ``records`` records with made-up entities, its manifest stating its new size
    and digest (so the two agree; no signature is checked without --verified)."""
    bundle = store / "bundles" / run
    prov = json.loads((bundle / "prov.json").read_text())
    stated = sum(len(records) for section, records in prov.items() if section != "prefix")
    prov["entity"].update({f"tdprov:forged-{i}": {"prov:label": "forged"} for i in range(stated, records)})
    data = json.dumps(prov).encode()
    manifest = json.loads((bundle / "manifest.json").read_text())
    _listed_as(manifest, data, "prov.json")
    for name, content in (("prov.json", data), ("manifest.json", json.dumps(manifest).encode())):
        (bundle / name).unlink()
        (bundle / name).write_bytes(content)


def test_a_prov_document_of_more_records_than_a_bundle_holds_is_left_out_of_the_export(
        tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forged bundle whose manifest and prov.json agree (500,000 entities in 29 MB) cost 'tdprov export' 1.5 GB and
    two minutes, and was exported. A prov.json stating more records than a bundle holds (here a lowered bound) is
    refused before any record is built: the run left out and named, the rest exported (exit 1); at the bound, exported."""
    from test_audit_support import seal

    from prov_common.store import open_store
    from prov_common.w3cprov import collect

    monkeypatch.setattr(collect, "PROV_RECORDS_MAX", 20)
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    sound = seal(open_store(str(store)), run_events())
    out = tmp_path / "prov.json"
    _forge_prov(store, run, 20)
    got, said = _verb(["export", "-o", str(out)], capsys, caplog)
    assert got == 0 and "PROV of 2 bundles" in said and "tdprov:forged-19" in out.read_text(), said
    _forge_prov(store, run, 21)
    got, said = _verb(["export", "-o", str(out)], capsys, caplog)
    assert got == 1 and "PROV of 1 bundle" in said, said
    assert f"left out run {run}: its bundle does not verify ('bundles/{run}/prov.json': it states more PROV records " \
           "than a bundle tdprov writes holds (20))" in said, said
    assert sound in out.read_text() and run not in out.read_text() and "forged" not in out.read_text()


@pytest.mark.parametrize("lists", [False, True], ids=["one record per id", "lists of records"])
def test_a_prov_document_past_the_bound_is_refused_before_it_is_parsed_whole(lists: bool) -> None:
    """A prov.json's records were counted once the document was parsed whole: 62 MB of three million empty records cost
    780 MB and 14 s before the refusal (85 MB and 0.6 s now). They are counted by an incremental parser that stops past
    the bound: here a document whose end is damaged is refused for its records, never parsed to its end, and the
    memory taken does not grow with the document; records at the bound, in named bundles too, are read as before."""
    import tracemalloc

    from prov_common.w3cprov.serialize import TooManyRecords, deserialize

    def document(n: int, tail: str = "}}") -> bytes:
        body = (f'"tdprov:f{i}":[{{}}]' if lists else f'"tdprov:f{i}":{{}}' for i in range(n))
        return ('{"prefix":{"tdprov":"https://tdprov.dev/ns#"},"entity":{' + ",".join(body) + tail).encode()

    damaged = document(100_000, ',"tdprov:x":')  # past the bound long before its damage
    tracemalloc.start()
    try:
        with pytest.raises(TooManyRecords, match=r"more PROV records than a bundle tdprov writes holds \(1,000\)"):
            deserialize(damaged, "json", 1_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(damaged), peak  # parsed whole: about 20 times the document
    assert len(deserialize(document(1_000), "json", 1_000).records) == 1_000
    named = b'{"bundle":{"tdprov:b":' + document(600) + b',"tdprov:c":' + document(401) + b"}}"
    with pytest.raises(TooManyRecords):
        deserialize(named, "json", 1_000)


def _listed_as(manifest: dict, data: bytes, path: str = "events.jsonl") -> None:
    """Have ``manifest`` list ``data`` as its file ``path`` (its size and digest)."""
    from prov_common.bundle.model import blake3_digest

    listed = next(f for f in manifest["files"] if f["path"] == path)
    listed["size"], listed["digest"] = len(data), blake3_digest(data)


def _forge_events(store: Path, run: str, outputs: int, manifest_change: Callable[[dict], None]) -> None:
    """Add ``outputs`` made-up outputs to the last event in the ``events.jsonl`` of ``run``, its manifest stating its
    new size and digest and changed by ``manifest_change`` (so that export derives the run's PROV from its events; no signature is
    checked without --verified)."""
    bundle = store / "bundles" / run
    events = [json.loads(line) for line in (bundle / "events.jsonl").read_text().splitlines()]
    written = events[-1]["outputs"]
    written += [{**written[0], "name": f"forged/{i}.parquet"} for i in range(len(written) - 1, len(written) - 1 + outputs)]
    data = "".join(json.dumps(e) + "\n" for e in events).encode()
    manifest = json.loads((bundle / "manifest.json").read_text())
    _listed_as(manifest, data)
    manifest_change(manifest)
    for name, content in (("events.jsonl", data), ("manifest.json", json.dumps(manifest).encode())):
        (bundle / name).unlink()
        (bundle / name).write_bytes(content)


def _older_mapping(manifest: dict) -> None:
    manifest["provMapping"] = "tdprov-prov/4"


def _no_prov_file(manifest: dict) -> None:
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "prov.json"]


@pytest.mark.parametrize("manifest_change", [_older_mapping, _no_prov_file], ids=["older mapping", "no prov.json"])
def test_events_of_more_prov_records_than_a_bundle_holds_are_left_out_of_the_export(
        manifest_change: Callable[[dict], None], tmp_path: Path, capsys: pytest.CaptureFixture,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound of a prov.json's records held no bundle whose manifest states an older PROV mapping or lists no
    prov.json: export derived its PROV from its events.jsonl, whatever their size. Events that state more records than
    a bundle holds (here a lowered bound) are refused before any record is built: the run left out and named, the rest
    exported (exit 1); at the bound, exported."""
    from test_audit_support import seal

    from prov_common.store import open_store
    from prov_common.w3cprov import collect

    monkeypatch.setattr(collect, "PROV_RECORDS_MAX", 21)  # the run: 13 PROV records, each new output 8 more
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    sound = seal(open_store(str(store)), run_events())
    out = tmp_path / "prov.json"
    _forge_events(store, run, 1, manifest_change)
    got, said = _verb(["export", "-o", str(out)], capsys, caplog)
    assert got == 0 and "PROV of 2 bundles" in said and "forged/0.parquet" in out.read_text(), said
    _forge_events(store, run, 1, manifest_change)
    got, said = _verb(["export", "-o", str(out)], capsys, caplog)
    assert got == 1 and "PROV of 1 bundle" in said, said
    assert f"left out run {run}: its bundle does not verify ('bundles/{run}/events.jsonl': its events state more PROV " \
           "records than a bundle tdprov writes holds (21))" in said, said
    assert sound in out.read_text() and run not in out.read_text() and "forged" not in out.read_text()


def test_events_past_the_bound_are_refused_before_they_are_parsed_whole(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle's events.jsonl was parsed whole before its PROV records were counted: 140 MB of 400,000 made-up outputs
    cost 'tdprov export' 1 GB and 71 s before its refusal (190 MB and 5 s now). The datasets the events name are
    counted by an incremental parser that stops past the bound, line by line as the fold reads them: here events whose
    end is damaged are refused for their records, never parsed to their end, and the memory taken stays below three
    times the file's size (the part read, the line the fold cut from it, and the parser's buffer)."""
    import tracemalloc

    from prov_common.store import open_store
    from prov_common.w3cprov import collect
    from prov_common.w3cprov.serialize import TooManyRecords

    monkeypatch.setattr(collect, "PROV_RECORDS_MAX", 1_000)
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    _forge_events(store, run, 3_000, _no_prov_file)
    bundle = store / "bundles" / run
    damaged = (bundle / "events.jsonl").read_bytes() + b'{"eventType":'  # past the bound long before its damage
    manifest = json.loads((bundle / "manifest.json").read_text())
    next(f for f in manifest["files"] if f["path"] == "events.jsonl")["size"] = len(damaged)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    (bundle / "events.jsonl").write_bytes(damaged)
    opened = open_store(str(store))
    tracemalloc.start()
    try:
        with pytest.raises(TooManyRecords) as refused:
            collect.bundle_document(opened, run)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"'bundles/{run}/events.jsonl': its events state more PROV records than a bundle tdprov writes holds " \
           "(1,000)" in str(refused.value), refused.value
    assert peak < 3 * len(damaged), (peak, len(damaged))  # parsed whole: about 8 times the file


def _repeated_lines(store: Path, run: str, times: int) -> bytes:
    """Repeat the terminal event of ``run`` ``times`` times in its events.jsonl, its manifest stating the new size and
    digest and no prov.json (so export derives the run's PROV from its events); the new events.jsonl."""
    bundle = store / "bundles" / run
    lines = (bundle / "events.jsonl").read_bytes().splitlines(keepends=True)
    data = b"".join(lines[:-1]) + lines[-1] * times
    manifest = json.loads((bundle / "manifest.json").read_text())
    _listed_as(manifest, data)
    _no_prov_file(manifest)
    for name, content in (("events.jsonl", data), ("manifest.json", json.dumps(manifest).encode())):
        (bundle / name).unlink()
        (bundle / name).write_bytes(content)
    return data


# the tests of repeated_events run on one xdist worker (scripts/test: --dist loadgroup): the 6 MB store is built once
REPEATED_EVENTS_GROUP = pytest.mark.xdist_group("test_cli_hostile.repeated_events")


@pytest.fixture(scope="module")
def repeated_events(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str, bytes, bytes]:
    """A store of one sealed run whose terminal event :func:`_repeated_lines` repeats 6,000 times (about 6 MB, past
    what is counted unparsed), its environment, the run id, its events.jsonl and the JSON PROV of those events parsed
    whole. Built once: the tests that take it only read it."""
    from prov_common.w3cprov.mapping import events_to_document
    from prov_common.w3cprov.serialize import serialize

    store, env, run = _sealed_store(tmp_path_factory.mktemp("repeated"))
    data = _repeated_lines(store, run, 6_000)
    whole = events_to_document([json.loads(line) for line in data.splitlines()], sealed=True)
    return store, env, run, data, serialize(whole, "json")


@REPEATED_EVENTS_GROUP
def test_events_of_few_prov_records_are_folded_line_by_line_never_parsed_whole(
        repeated_events, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle's events.jsonl was parsed whole before it was folded: 130,000 repeats of one event (139 MB, a few PROV
    records) cost 'tdprov export' 950 MB (180 MB then, the file's bytes), and one event of 400,000 repeats of one
    output (140 MB) 892 MB. The lines are folded one at a time, a repeated line once, and the file read in ranged parts
    (it was read whole: the memory taken was the file's size and more), counted and folded: the memory taken stays
    below a quarter of the file's size (parsed whole: about 7 times it) and the PROV is the PROV of the events parsed
    whole; a line longer than a staged event can be (here a lowered bound) is refused naming the file and the line."""
    import tracemalloc

    from prov_common.bundle import storage
    from prov_common.store import open_store
    from prov_common.w3cprov import collect, event_lines
    from prov_common.w3cprov.serialize import serialize

    monkeypatch.setattr(storage, "LINES_CHUNK", 256 << 10)  # read in parts of a sixteenth of the file
    store, env, run, data, whole = repeated_events
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    opened = open_store(str(store))
    collect.bundle_document(opened, run)  # its modules loaded before the memory is traced
    tracemalloc.start()
    try:
        document = collect.bundle_document(opened, run)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data) // 4, (peak, len(data))  # read whole: the file and more; parsed whole: 7 times it
    assert serialize(document, "json") == whole
    bound = max(len(line) for line in data.splitlines()) - 1  # the repeated terminal event, from line 2 on
    monkeypatch.setattr(event_lines, "SMALL_OBJECT_LIMIT", bound)
    with pytest.raises(BadInputError) as refused:
        collect.bundle_document(opened, run)
    assert str(refused.value).startswith(f"bundle {run} events.jsonl line 2 is longer than {bound:,} bytes: no event "
                                         "is. Fix: check it with 'tdprov verify'"), refused.value


def test_the_audit_records_a_bundle_it_cannot_verify_from_its_events_line_by_line(
        tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle that does not verify is recorded from its stored events ('tdprov audit', and 'lineage --checks', which
    checks the runs the audit did not): they were parsed whole, so 130,000 repeats of one event (139 MB) cost
    'lineage --checks' 1 GB and 92 s (340 MB and 66 s now: the file read twice). They are folded line by line: the
    memory taken stays below three times the file's size (parsed whole: about 8 times it), and the run is named."""
    import tracemalloc

    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    data = _repeated_lines(store, run, 500)
    lineage = ["lineage", "s3://lake/clean/users.parquet", "--checks"]
    assert _verb(lineage, capsys, caplog)[0] == 2  # its modules loaded before the memory is traced
    tracemalloc.start()
    try:
        got, said = _verb(lineage, capsys, caplog)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == 2 and f"left out run {run}: its bundle does not verify" in said, said
    assert peak < 3 * len(data), (peak, len(data))


def _forged_events(store: Any, times: int, distinct: int = 0) -> tuple[str, bytes]:
    """Seal-like objects of a new run in ``store`` (any backend) whose events.jsonl repeats its terminal event ``times``
    times (after ``distinct`` RUNNING events, each its own, latest first) under a manifest that lists it (its size and
    digest) and that its signed statement does not name (no trusted key vouches for it): the run id and the events."""
    from bundle_support import event, run_events

    from prov_common.bundle import build_bundle, layout
    from prov_common.bundle.model import Manifest
    from prov_common.bundle.storage import bundle_objects
    from prov_common.hashing.raw import blake3_digest
    from prov_common.signing import default_signing_key

    bundle = build_bundle(run_events(), None, default_signing_key())
    lines = bundle.files[layout.EVENTS_FILE].splitlines(keepends=True)
    running = [event(bundle.run_id, "RUNNING", f"2026-03-01T10:00:00.{i:06d}Z") for i in range(distinct, 0, -1)]
    data = b"".join(lines[:-1]) + b"".join(json.dumps(e).encode() + b"\n" for e in running) + lines[-1] * times
    manifest = json.loads(bundle.manifest_bytes)
    entry = next(f for f in manifest["files"] if f["path"] == layout.EVENTS_FILE)
    entry.update(size=len(data), digest=blake3_digest(data))
    manifest_bytes = json.dumps(manifest).encode()
    forged = replace(bundle, files={**bundle.files, layout.EVENTS_FILE: data}, manifest_bytes=manifest_bytes,
                     manifest=Manifest.from_json(manifest_bytes))
    for key, content in bundle_objects(forged):
        store.put(key, content)
    return bundle.run_id, data


def test_the_events_a_forged_bundle_claims_are_read_in_ranged_parts_never_held_whole(
        store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'tdprov show' of a bundle no trusted key vouches for folded the events it claims line by line, but from the
    file read whole: 100 MB of repeated events cost 149 MB of memory. They are read in ranged parts (a local file
    or S3), no more than a part and a line held: here the memory taken stays below a quarter of the file, the run is the
    one the whole file folds into, and a file that is no longer the one listed is named when its parts are read."""
    import tracemalloc

    from prov_common.bundle import layout, storage
    from prov_common.bundle.claimed import claimed_run
    from prov_common.bundle.events import fold_bundle_events
    from prov_common.bundle.trust import bundle_trust
    from prov_common.bundle.verify import verify_and_derive
    from prov_common.config import Settings
    from prov_common.errors import VerificationError
    from prov_common.store import open_store

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(storage, "LINES_CHUNK", 1 << 20)
    store = open_store(store_uri)
    run, data = _forged_events(store, 20_000)  # about 14 MB
    checked = verify_and_derive(store, run, bundle_trust(Settings.from_env(store=store_uri), store))
    assert checked.derived is None and layout.EVENTS_FILE in checked.intact, checked.report.to_dict()
    claimed_run(store, checked)  # its modules loaded before the memory is traced
    tracemalloc.start()
    try:
        claimed = claimed_run(store, checked)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert claimed is not None and claimed.state == fold_bundle_events(data, "e", checked.manifest.mapping)
    assert [e["eventType"] for e in claimed.events] == ["START", "COMPLETE"] and claimed.unlisted == 0
    if store_uri.startswith("/"):  # the S3 server runs in this process: its copies of the object are traced too
        assert peak < len(data) // 4, (peak, len(data))  # read whole: the file and more
    listed = checked.manifest.by_path[layout.EVENTS_FILE].size
    changed = replace(checked.manifest.by_path[layout.EVENTS_FILE], size=listed - 1)
    checked.manifest = replace(checked.manifest, files=tuple(changed if f.path == layout.EVENTS_FILE else f
                                                               for f in checked.manifest.files))
    with pytest.raises(VerificationError, match=f"^bundles/{run}/events.jsonl is not the file its bundle's manifest names"):
        claimed_run(store, checked)


@REPEATED_EVENTS_GROUP
def test_export_reads_an_events_file_once_its_records_counted_as_it_is_folded(
        repeated_events, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export read the events.jsonl of a bundle it derives PROV from twice when the file was large enough to name more
    datasets than the bound: its records counted by a parser of the whole file, then folded. They are counted line by
    line as the fold reads them: here 6 MB read once, in ranged parts, and the PROV is the PROV of the events parsed
    whole; events past the bound are still refused before the line that passes it is parsed."""
    from counting_store import CountingStore

    from prov_common.bundle import layout, storage
    from prov_common.w3cprov import collect
    from prov_common.w3cprov.serialize import TooManyRecords, serialize

    monkeypatch.setattr(storage, "LINES_CHUNK", 1 << 20)
    store, env, run, data, whole = repeated_events  # about 6 MB, past what is folded uncounted
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    counting, key = CountingStore(store), layout.bundle_key(run, layout.EVENTS_FILE)
    document = collect.bundle_document(counting, run)
    assert serialize(document, "json") == whole
    assert counting.gets[key] == 0 and sum(size for _, size in counting.ranges[key]) == len(data), counting.ranges[key]
    monkeypatch.setattr(collect, "PROV_RECORDS_MAX", 5)  # the run's datasets pass it
    with pytest.raises(TooManyRecords):
        collect.bundle_document(counting, run)


def test_the_lines_a_fold_did_not_keep_are_read_again_many_to_a_ranged_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lines of a file read in parts that the fold did not keep parsed (past 8 MB of them) were read again one
    ranged read each, in the fold's order: on S3 one GET a line, so a forgery of 100,000 distinct events cost 100,000
    GETs. They are read again many at a time, in file order, in ranges of at most a part: here 3,000 lines of events
    latest first, none kept, fold in a few dozen reads into the run the file read whole folds into."""
    from counting_store import CountingStore

    from prov_common.bundle import layout, storage
    from prov_common.bundle.events import fold_bundle_events
    from prov_common.bundle.model import Manifest
    from prov_common.w3cprov import event_lines

    monkeypatch.setattr(event_lines, "KEPT_BYTES", 0)
    monkeypatch.setattr(event_lines, "REREAD_BYTES", 64 << 10, raising=False)
    monkeypatch.setattr(storage, "LINES_CHUNK", 64 << 10)
    store = CountingStore(tmp_path / "store")
    run, data = _forged_events(store, 1, distinct=3_000)  # about 900 KB
    manifest = Manifest.from_json(store.get(layout.bundle_key(run, layout.MANIFEST_FILE)))
    state = fold_bundle_events(storage.listed_parts(store, run, manifest, layout.EVENTS_FILE), "e", manifest.mapping)
    assert state == fold_bundle_events(data, "e", manifest.mapping) and len(state.outputs) == 1
    ranges = store.ranges[layout.bundle_key(run, layout.EVENTS_FILE)]
    parts = -(-len(data) // (64 << 10))
    assert parts < 20 and len(ranges) <= 3 * parts, len(ranges)  # one a line: 3,000 reads after the parts


def test_lines_of_one_time_not_kept_are_read_again_in_few_ranged_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events of one time and rank are folded in the order of their JSON text, not of the file: each line of such a
    tie read again took a range of the lines after it in the file, so 3,000 tied events (1.3 MB) cost 2,893 reads of
    184 MB. The tie is read again in the order it is folded in: a few hundred reads, never many times the file."""
    import random

    from bundle_support import dataset, event

    from prov_common.w3cprov import event_lines
    from prov_common.w3cprov.event_lines import EventBytes, fold_event_lines

    monkeypatch.setattr(event_lines, "KEPT_BYTES", 0)
    monkeypatch.setattr(event_lines, "REREAD_BYTES", 64 << 10)
    run, order = str(uuid.uuid4()), list(range(3_000))
    random.Random(2).shuffle(order)
    a = dataset("s3://lake", "a.parquet")
    data = b"".join(json.dumps(event(run, "RUNNING", "2026-03-01T10:00:05Z", outputs=[{**a, "facets": {"x": {"n": n}}}]))
                    .encode() + b"\n" for n in order)
    reads: list[int] = []

    def read(start: int, stop: int) -> bytes:
        reads.append(stop - start)
        return data[start:stop]

    parts = EventBytes([data[i:i + (64 << 10)] for i in range(0, len(data), 64 << 10)], read)
    assert fold_event_lines(parts, "e.jsonl") == fold_event_lines(data, "e.jsonl")
    assert len(reads) < 500 and sum(reads) < 20 * len(data), (len(reads), sum(reads), len(data))


def test_the_audit_reads_the_events_of_a_bundle_no_trusted_key_vouches_for_once_in_ranged_parts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit's examination of a bundle no trusted key vouches for read its events whole, folded them, then cut them
    again to digest its lines: the file and about twice more held. They are read once, in ranged parts, folded and
    digested in that reading: here the memory taken stays below a quarter of the file, the record and the digests
    are those of the file read whole, and the events are never read whole."""
    import tracemalloc
    from functools import partial

    from counting_store import CountingStore

    from prov_common.audit.examine import examine_checked, record_from_events
    from prov_common.bundle import layout, storage, verify
    from prov_common.bundle.events import line_digests
    from prov_common.bundle.storage import summary_of_bundle
    from prov_common.signing import TrustStore

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(storage, "LINES_CHUNK", 1 << 20)
    monkeypatch.setattr(verify, "hash_stored", partial(verify.hash_stored, chunk=1 << 20))  # verification's reads
    store = CountingStore(tmp_path / "store")
    run, data = _forged_events(store, 20_000, distinct=20)  # about 14 MB
    summary, trust, key = summary_of_bundle(store, run), TrustStore.of([]), layout.bundle_key(run, layout.EVENTS_FILE)
    examine_checked(store, summary, trust)  # its modules loaded before the memory is traced
    store.gets.clear()
    store.ranges.clear()
    tracemalloc.start()
    try:
        record, _, checked = examine_checked(store, summary, trust)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert checked.derived is None and layout.EVENTS_FILE not in checked.objects, checked.report.to_dict()
    assert peak < len(data) // 4, (peak, len(data))  # read whole: the file and more
    assert record.held_events == line_digests(data) and len(record.held_events) == 22
    whole = record_from_events(data, key, summary, record.manifest_digest, record.key_id, checked.manifest.mapping)
    assert (record.inputs, record.outputs, record.state) == (whole.inputs, whole.outputs, whole.state)
    assert store.gets[key] == 0 and sum(size for _, size in store.ranges[key]) <= 2 * len(data) + 2  # hashed, then read


@pytest.mark.parametrize("kept", [8 << 20, 0], ids=["kept parsed", "parsed again"])
def test_events_folded_line_by_line_are_the_runs_of_the_events_parsed_whole(kept: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The line-by-line fold orders each run's events as the whole parse does (time, START first, a terminal event
    last, then among events of one time and rank their JSON text), a repeated line or an equal event spelt otherwise
    included, whether a line was kept parsed or is parsed again; runs apart, blank lines and line breaks as
    ``splitlines`` cuts them; a line that is not JSON is named by its number."""
    from bundle_support import dataset, event

    from prov_common.w3cprov import event_lines
    from prov_common.w3cprov.event_lines import EventBytes, fold_event_lines
    from prov_common.w3cprov.events import fold_runs

    monkeypatch.setattr(event_lines, "KEPT_BYTES", kept)
    run, other, time = str(uuid.uuid4()), str(uuid.uuid4()), "2026-03-01T10:00:05Z"
    version = {"version": {"datasetVersion": "blake3:" + "2" * 64}}
    a = {**dataset("s3://lake", "a.parquet"), "facets": {"x": {"n": 1}}}
    tied = [event(run, "RUNNING", time, outputs=[{**a, "facets": {"x": {"n": n}}}]) for n in (3, 1, 2)]
    events = [event(run, "COMPLETE", time, outputs=[{**a, "facets": version}]), *tied, tied[0],
              event(run, "START", time, outputs=[a]), event(other, "START", time, outputs=[a]), tied[1]]
    lines = [json.dumps(e).encode() for e in events]
    lines[-1] = json.dumps(events[-1], indent=1).replace("\n", " ").encode()  # the same event, spelt otherwise
    data = b"\n".join(lines[:3]) + b"\r\n\n" + b"\r".join(lines[3:]) + b"\n"
    assert fold_event_lines(data, "e.jsonl") == fold_runs([json.loads(line) for line in data.splitlines() if line.strip()])
    assert [r.outputs[0].facets for r in fold_event_lines(data, "e.jsonl")] == [
        {"x": {"n": 3}, **version}, {"x": {"n": 1}}][:: 1 if run < other else -1]
    with pytest.raises(BadInputError, match=r"^e\.jsonl line 6 is not JSON"):
        fold_event_lines(b"\n".join(lines[:3]) + b"\r\n\n" + b"\r".join([lines[3], b"{"]), "e.jsonl")
    for size in (1, 2, 7, 64):  # read in parts however cut (a \r\n, a line across parts): the runs of the whole
        parts = EventBytes([data[i:i + size] for i in range(0, len(data), size)], lambda start, stop: data[start:stop])
        assert fold_event_lines(parts, "e.jsonl") == fold_event_lines(data, "e.jsonl"), size
    bound = len(lines[0])
    monkeypatch.setattr(event_lines, "SMALL_OBJECT_LIMIT", bound)
    long = lines[0] + b"\r\n\n" + b" " * (bound + 1) + b"\r{}"
    for size in (1, 4, 11, 64):  # named by its number, read in parts or whole
        with pytest.raises(BadInputError, match=rf"^e\.jsonl line 3 is longer than {bound:,} bytes"):
            fold_event_lines(EventBytes([long[i:i + size] for i in range(0, len(long), size)], long.__getitem__), "e.jsonl")
    with pytest.raises(BadInputError, match=rf"^e\.jsonl line 3 is longer than {bound:,} bytes"):
        fold_event_lines(long, "e.jsonl")


def test_the_count_of_records_before_the_parse_is_never_above_what_the_events_make() -> None:
    """The count that refuses events before they are parsed must never refuse events the folding keeps within the bound:
    it counts each dataset once per run as the folding names it, however often and in whichever spelling the events
    name it, a key given twice as JSON reads it (the last), and run ids as their PROV identifiers fold them. At the
    records the events make it refuses none of these; below the datasets they name, each of them."""
    from bundle_support import dataset, event

    from prov_common.canonical_json import canonical_bytes
    from prov_common.w3cprov.events_bound import RecordCount
    from prov_common.w3cprov.mapping import events_to_document

    def counted_past(data: bytes, bound: int) -> bool:  # counted whole, and line by line as export's fold gives them
        whole, count = RecordCount(bound).past(data), RecordCount(bound)
        assert any([count.past(line) for line in data.splitlines()]) == whole, (data, bound)
        return whole

    run = str(uuid.uuid4())
    first = [dataset("file", "/data/a.csv", "blake3:" + "1" * 64), dataset("file", "/data//a.csv", "blake3:" + "1" * 64),
             dataset("file://localhost", "/data/./a.csv"), dataset("s3://lake", "b.parquet")]
    named = {  # events -> the datasets counted: inputs once, outputs twice
        "one name spelt four ways, named again": ([event(run, "START", "2026-03-01T10:00:00Z", inputs=first),
                                                   event(run, "COMPLETE", "2026-03-01T10:00:05Z", inputs=first,
                                                         outputs=first[::-1])], 2 + 4),
        "run ids that differ in case": ([event(run, "START", "2026-03-01T10:00:00Z", outputs=first[3:]),
                                         event(run.upper(), "START", "2026-03-01T10:00:00Z", outputs=first[3:])], 2),
    }
    for name, (events, counted) in named.items():
        data = b"".join(canonical_bytes(e) + b"\n" for e in events)
        made = len(events_to_document(events, sealed=True).get_records())
        assert made >= counted and not counted_past(data, made), name
        assert counted_past(data, counted - 1) and not counted_past(data, counted), name
    many = [dataset("s3://lake", f"part/{i}.parquet") for i in range(40)]
    twice = json.dumps(event(run, "COMPLETE", "2026-03-01T10:00:05Z", outputs=first[3:]))
    twice = twice.replace('"outputs":', '"outputs": ' + json.dumps(many) + ', "outputs":', 1).encode()  # JSON reads the last
    assert json.loads(twice)["outputs"] == first[3:] and not counted_past(twice, 2) and counted_past(twice, 1)


def test_graph_and_prov_read_an_events_file_line_by_line_and_refuse_a_line_past_the_bound(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """'tdprov graph' and 'tdprov prov' read an events file whole, then parsed it as one document and again by lines:
    a bundle's events.jsonl grown (sparse) to 2 GiB cost 8.7 GB of memory and 26 s before a refusal that named a
    UTF-32 codec. A file past the bound is read line by line; a line past it is refused, naming the file and line."""
    from prov_common.cli import prov

    store, env, run = _sealed_store(tmp_path)
    events = store / "bundles" / run / "events.jsonl"
    sound = events.read_bytes()
    monkeypatch.setattr(prov, "EVENT_LIMIT", max(len(line) for line in sound.splitlines()) + 10, raising=False)
    many = tmp_path / "many.jsonl"
    many.write_bytes(sound * 3)  # past the bound, each line within it: read line by line
    assert prov.read_events(str(many)) == prov.read_events(str(events)) * 3
    grown = tmp_path / "grown.jsonl"
    grown.write_bytes(sound + b"\x00" * (1 << 20))
    for argv in (["graph", str(grown), "-o", str(tmp_path / "g.svg")], ["prov", str(grown)]):
        assert main(argv) == 2
        line = _one_line_error(capsys.readouterr().err, argv[0])
        assert f"{grown} line 3 is longer than {prov.EVENT_LIMIT:,} bytes" in line and "codec" not in line, line
    os.truncate(events, 256 << 20)
    measured = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, repr(done.stderr))")
    done = subprocess.run([sys.executable, "-c", measured, sys.executable, "-m", "prov_common", "graph", str(events), "-o",
                           str(tmp_path / "g.svg")], capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    code, peak_kib, said = done.stdout.split(" ", 2)
    assert code == "2" and int(peak_kib) < 400_000 and "line 3 is longer than 67,108,864 bytes" in said, done.stdout


def test_a_line_past_the_bound_is_left_out_of_the_digests_and_the_lines_after_it_are_taken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The digests of an events file's lines took a line of any length whole (a planted line of 512 MB: 12.8 s, the
    line held twice), though no staged event is longer than layout.SMALL_OBJECT_LIMIT and the digests serve only to
    find staged events. Such a line is left out, never held past the bound, and the lines after it are digested as
    before, in parts however cut (a \\r\\n across parts) or whole; the cut is that of ``splitlines``."""
    import random

    from prov_common.bundle import events as bundle_events
    from prov_common.bundle.events import line_digests
    from prov_common.hashing.raw import short_digest
    from prov_common.w3cprov.event_lines import EventBytes, line_spans, part_lines

    monkeypatch.setattr(bundle_events, "SMALL_OBJECT_LIMIT", 16, raising=False)
    data = b'{"a": 1}\r\n' + b"x" * 100 + b'\r\n{"b": 2}\r' + b"y" * 17 + b'\n{"c": 3}\n'
    wanted = {short_digest(line) for line in (b'{"a": 1}', b'{"b": 2}', b'{"c": 3}')}
    assert line_digests(data) == wanted
    for size in (1, 2, 7, 16, 64):
        assert line_digests(EventBytes([data[i:i + size] for i in range(0, len(data), size)], data.__getitem__)) == wanted
    rng = random.Random(7)
    for _ in range(3_000):  # any bytes, any cut into parts, any bound: the lines of splitlines, those past it None
        data = bytes(rng.choice(b"ab\r\n") for _ in range(rng.randrange(40)))
        limit, cuts = rng.randrange(1, 8), sorted(rng.sample(range(1, max(2, len(data))), min(5, max(0, len(data) - 1))))
        parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        got = [(number, start, line) for number, start, _, line in part_lines(parts, limit)]
        assert got == [(number, start, data[start:stop] if stop - start <= limit else None)
                       for number, start, stop in line_spans(data)], (data, parts, limit)


def test_a_planted_line_of_hundreds_of_megabytes_costs_the_audit_and_lineage_its_reading_not_its_memory(
        tmp_path: Path) -> None:
    """A bundle whose events.jsonl holds one line of 200 MB (sparse: no disk used) under a manifest listing its size,
    which anyone who can write the store can plant: the audit folded the events, stopped at the line, then digested
    every line again, growing that one by a copy per part read and holding it whole (about 480 MB of memory, 5 s; 'tdprov
    lineage --checks' 500 MB, 10 s). The line is left out of the digests, never held past the bound: the findings are
    as before (the audit names the events' digest; lineage leaves the run out, naming why)."""
    store, env, run = _sealed_store(tmp_path)
    bundle = store / "bundles" / run
    events = bundle / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    events.write_bytes(b"".join(lines[:-1]))
    with events.open("r+b") as grown:
        grown.seek(200 << 20)
        grown.write(b"\n" + lines[-1])
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    next(f for f in manifest["files"] if f["path"] == "events.jsonl")["size"] = events.stat().st_size
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    measured = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(done.stdout + done.stderr)")
    for verb, code in ((["audit"], 1), (["lineage", "--checks", "s3://lake/clean/users.parquet"], 2)):
        done = subprocess.run([sys.executable, "-c", measured, sys.executable, "-m", "prov_common", *verb],
                              capture_output=True, text=True, timeout=120, env={**os.environ, **env})
        head, said = done.stdout.split("\n", 1)
        assert list(map(int, head.split()))[0] == code and int(head.split()[1]) < 250_000, (verb, head, said, done.stderr)
        assert f"bundles/{run}/events.jsonl: digest mismatch" in said, (verb, said)


def test_an_output_file_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    """A write to an -o file that failed half way (disk full, file too large) was blamed on "the output (stdout, or
    where it is redirected)". The error names the file, and a file the verb created is not left half written."""
    store, env, run = _sealed_store(tmp_path)
    table = tmp_path / "t.csv"
    table.write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(2000)))
    cases = {"export": ["export", "-o"], "record": ["record", "s3://lake/clean/users.parquet", "-o"],
             "hash": ["hash", str(table), "--row-digests"]}
    for verb, argv in cases.items():
        out = tmp_path / f"{verb}.out"
        done = subprocess.run([sys.executable, "-m", "prov_common", *argv, str(out)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **env}, preexec_fn=small_files(4096))
        assert done.returncode == 2, (verb, done.stderr)
        line = _one_line_error(done.stderr, verb)
        assert f"cannot use {out}:" in line and "stdout" not in line and "ulimit" in line, (verb, line)
        assert not out.exists(), verb


@pytest.mark.parametrize("damage", ["not json", "{}"])
def test_one_damaged_source_record_is_named_and_the_training_record_still_written(
        tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """A source record that is not JSON, or no signed envelope, stopped 'tdprov record' (exit 1, no record).
    It is left out and named by its key with the fix; the record is written from the rest (exit 1: a finding), and
    'tdprov lineage' shows the tree without it, exiting 1 too (it exited 0, as if its lineage were sound)."""
    from prov_common.signing import default_signing_key
    from prov_common.sources.model import SourceRecord
    from prov_common.sources.registry import register_source
    from prov_common.store import open_store

    store, env, _ = _sealed_store(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    register_source(open_store(str(store)), SourceRecord(name="vendor-raw", digest="blake3:" + "1" * 64,
                                                         license="CC-BY-4.0", issuer="Acme Data"), default_signing_key())
    damaged = store / "sources" / "vendor" / ("e" * 64 + ".json")
    damaged.parent.mkdir(parents=True)
    damaged.write_text(damage)
    out = tmp_path / "r.json"
    code, said = _verb(["record", "s3://lake/clean/users.parquet", "-o", str(out)], capsys, caplog)
    assert code == 1, said
    assert f"left out source record 'sources/vendor/{damaged.name}'" in said and "tdprov audit" in said, said
    assert "vendor-raw" in out.read_text() and "Acme Data" in out.read_text()  # the sound source is in the record
    code, said = _verb(["lineage", "s3://lake/clean/users.parquet"], capsys, caplog)  # traced from the same records: not silently
    assert code == 1 and f"tdprov lineage: left out source record 'sources/vendor/{damaged.name}'" in said, said


def test_registered_sources_that_cannot_be_listed_are_named_by_lineage(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                       caplog: pytest.LogCaptureFixture,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A store whose 'sources/' cannot be listed (a symbolic link to itself here; an unreadable folder or a denied
    listing alike): 'tdprov lineage' showed the tree without any registered source and exited 0, saying nothing. It
    names the failure with the fix and exits 1, the tree still shown."""
    store, env, _ = _sealed_store(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (store / "sources").symlink_to("sources")
    code, said = _verb(["lineage", "s3://lake/clean/users.parquet"], capsys, caplog)
    assert code == 1, said
    assert ("tdprov lineage: cannot read the registered sources (cannot list 'sources/' in local folder "
            f"{store}: Too many levels of symbolic links): the lineage is shown without them. Fix: ") in said, said


def test_a_report_folder_given_with_a_tilde_is_the_one_checked(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``--report '~/r'`` (quoted, or after '=': no shell expanded it) was checked as the home folder's 'r' and
    written to a folder './~/r' beside it: the report goes where the check looked."""
    store, env, _ = _sealed_store(tmp_path)
    for name, setting in env.items():
        monkeypatch.setenv(name, setting)
    home, work = tmp_path / "user", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    capsys.readouterr()
    assert main(["audit", "--quiet", "--report", "~/r"]) in (0, 1)  # 1: the bare run has findings
    assert str(home / "r" / "report.html") in capsys.readouterr().out
    assert sorted(p.name for p in (home / "r").iterdir()) == ["report.html", "report.json"]
    assert list(work.iterdir()) == []


def test_a_prov_section_of_another_type_is_shown_as_the_finding_it_is(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle's prov.json whose 'wasGeneratedBy' is true (valid JSON, another type) stopped 'show' with an unexpected
    TypeError; it is shown, its digest mismatch named, and it exits 1 as for any bundle that does not verify."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    prov = store / "bundles" / run / "prov.json"
    prov.write_text(json.dumps({**json.loads(prov.read_text()), "wasGeneratedBy": True, "used": [1]}))
    capsys.readouterr()
    assert main(["show", run]) == 1
    out = capsys.readouterr().out
    assert "0 wasGeneratedBy" not in out and "prov: " in out and f"bundles/{run}/prov.json: digest mismatch" in out, out
    assert main(["show", run, "--json"]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["prov"]["wasGeneratedBy"] == 0 and shown["prov"]["used"] == 0 and not shown["verification"]["ok"]


@pytest.mark.parametrize("size", [10**30, -1, True])
def test_a_manifest_file_size_that_is_no_number_of_bytes_is_a_damaged_manifest(size: object, tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest giving a file a size of 10**30 stopped 'verify' for the whole store (and 'show', 'lineage') with an
    unexpected OverflowError: the size bounds the read of the file. Such a size is a malformed manifest, named; the
    other bundles verify."""
    from bundle_support import run_events as other_events
    from test_audit_support import seal

    from prov_common.store import open_store

    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    other = seal(open_store(str(store)), other_events())
    manifest = store / "bundles" / run / "manifest.json"
    raw = json.loads(manifest.read_text())
    raw["files"][0]["size"] = size
    manifest.write_text(json.dumps(raw))
    capsys.readouterr()
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert f"OK    {other}" in out and f"FAIL  {run}" in out, out
    assert f"is not a bundle manifest (TypeError: the size of '{raw['files'][0]['path']}' is {size!r}, not a number of bytes)" in out, out


@pytest.mark.parametrize("field, value", [("storeId", 5), ("provMapping", ["tdprov-prov/9"]), ("datasetNaming", True),
                                          ("digestSets", {"v": 6})])
def test_a_manifest_with_a_number_where_text_belongs_is_a_damaged_manifest(field: str, value: object, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest whose store id, PROV mapping, naming or digest-set version is a number, a list, true or an object was
    read as its text ('"storeId": 5' as the store "5"): such a manifest is malformed and named so, as a number where
    any other text of a manifest belongs is."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    manifest = store / "bundles" / run / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), field: value}))
    capsys.readouterr()
    assert main(["verify", run]) == 1
    out = capsys.readouterr().out
    assert f"is not a bundle manifest (TypeError: {field} is {type(value).__name__}, not text)" in out, out


def test_a_failure_count_of_another_type_is_shown_as_recorded(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pandera facet whose failureCount is text (any producer can send the facet) stopped 'show' with an unexpected
    ValueError from the count's thousands separator; the bundle verifies, and the value is shown as recorded."""
    from test_audit_support import dataset, digest, run_events, seal

    from prov_common.store import open_store

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    out = [dataset("/data/x.parquet", digest("x"), passed=False, failed=("positive",)), dataset("/data/y.parquet", digest("y"), passed=False)]
    out[0]["facets"]["tdprov_pandera"]["failureCount"] = "3"
    out[1]["facets"]["tdprov_pandera"]["failureCount"] = 1
    run = seal(open_store(str(tmp_path / "store")), run_events("check", [], out))
    capsys.readouterr()
    assert main(["show", run]) == 0
    shown = capsys.readouterr().out
    assert "/data/x.parquet_schema: FAILED (failureCount '3')" in shown and "/data/y.parquet_schema: FAILED (1 failure)" in shown, shown


def test_an_output_file_given_with_a_tilde_is_the_one_checked(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o '~/x'`` (quoted: no shell expanded it) was checked in the home folder and written to './~/x', which failed
    ('cannot use ~/x: No such file or directory') or went into a folder named '~': each file goes where the check
    looked, as ``audit --report '~/r'`` does."""
    home, work = tmp_path / "user", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "tdprov-home"))
    monkeypatch.chdir(work)
    (tmp_path / "ev.jsonl").write_text(json.dumps({
        "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z", "producer": "https://example.invalid/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0190d6b0-0000-7000-8000-000000000001"}, "job": {"namespace": "n", "name": "j"}, "inputs": [], "outputs": []}) + "\n")
    (tmp_path / "t.csv").write_text("a\n1\n")
    assert main(["prov", str(tmp_path / "ev.jsonl"), "-o", "~/prov.json"]) == 0
    assert main(["keygen", "-o", "~/k.pem"]) == 0
    assert main(["hash", str(tmp_path / "t.csv"), "--row-digests", "~/rows.parquet"]) == 0
    assert sorted(p.name for p in home.iterdir()) == ["k.pem", "k.pem.pub", "prov.json", "rows.parquet"], capsys.readouterr()
    assert json.loads((home / "prov.json").read_text())["activity"] and list(work.iterdir()) == []


def test_workers_up_to_the_cpus_of_a_machine_of_more_than_256_are_taken(capsys: pytest.CaptureFixture,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine of 320 CPUs the default is 320 workers, so '--workers 320' is taken; it was refused as more than
    256, 'the most tdprov starts'. Past the CPUs of such a machine, the refusal names them."""
    import prov_common.config

    monkeypatch.setattr(prov_common.config, "usable_cpus", lambda: 320)
    for verb in (["verify"], ["hash", "x.csv"]):
        assert build_parser().parse_args([verb[0], "--workers", "320", *verb[1:]]).workers == 320
        with pytest.raises(SystemExit):
            build_parser().parse_args([verb[0], "--workers", "321", *verb[1:]])
        err = capsys.readouterr().err
        assert "'321' worker processes is more than 320, the most tdprov starts (this machine has 320 CPUs" in err, err


def _audit_peak(*args: str) -> tuple[int, int, str]:
    """Exit code, peak memory (KiB) and output of 'tdprov audit ARGS' run in a child process of its own (this
    process's environment)."""
    measured = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(done.stdout + done.stderr)")
    done = subprocess.run([sys.executable, "-c", measured, sys.executable, "-m", "prov_common", "audit", *args],
                          capture_output=True, text=True, timeout=120)
    head, said = done.stdout.split("\n", 1)
    code, peak_kib = map(int, head.split())
    return code, peak_kib, said + done.stderr


def _audited_here(tmp_path: Path, audits: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                  caplog: pytest.LogCaptureFixture) -> Path:
    """:func:`_sealed_store_read_here`, audited ``audits`` times in this process (each 'log size 1'): the store, whose
    next audit :func:`_audit_peak` measures in a process of its own."""
    store, _run = _sealed_store_read_here(tmp_path, monkeypatch)
    for _ in range(audits):
        _code, said = _verb(["audit"], capsys, caplog)
        assert "log size 1;" in said, said
    return store


@pytest.mark.parametrize("grown", ["log/checkpoints/000000000001.json", "log/leaves/000000000000.json"])
def test_the_audit_reads_no_further_than_a_small_object_a_log_object_grown_sparse(
        tmp_path: Path, grown: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        caplog: pytest.LogCaptureFixture) -> None:
    """A checkpoint or leaf batch grown (sparse) to 256 MiB after an audit wrote it: the next audit read it whole (a 1 GiB
    checkpoint cost 2.1 GB of memory). It reads it no further than layout.SMALL_OBJECT_LIMIT, and names it (exit 1)."""
    store = _audited_here(tmp_path, 1, monkeypatch, capsys, caplog)
    assert (store / grown).is_file()
    os.truncate(store / grown, 256 << 20)
    code, peak_kib, said = _audit_peak()
    assert code == 1 and peak_kib < 200_000, (code, peak_kib, said)
    named = f"'{grown}' in local folder {store} is larger than {64 << 20:,} bytes" if "checkpoints" in grown else \
        f"'{grown}' changed after it was first listed"  # known by the fingerprint the store gave it: its size differs, unread
    assert f"error: {grown}: " in said and named in said, said


@pytest.mark.parametrize(("folder", "which"), [("audit/auditor-inventory", 0), ("audit/catalog", 0), ("audit/state", -1)])
def test_the_audit_reads_no_further_than_a_small_object_an_audit_object_grown_sparse(
        tmp_path: Path, folder: str, which: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        caplog: pytest.LogCaptureFixture) -> None:
    """An object an earlier audit wrote (the first of its pinned inventory objects, its catalog, its newest state) grown
    (sparse) to 256 MiB: the next audit read it whole. It reads it no further than layout.SMALL_OBJECT_LIMIT (it does not
    hash to its pin) and names it (exit 1)."""
    store = _audited_here(tmp_path, 2, monkeypatch, capsys, caplog)
    grown = sorted(p for p in (store / folder).rglob("*.json") if p.is_file())[which]
    os.truncate(grown, 256 << 20)
    code, peak_kib, said = _audit_peak()
    assert code == 1 and peak_kib < 200_000, (code, peak_kib, said)
    name = grown.relative_to(store).as_posix()
    assert f"error: {name}: " in said and f"'{name}' in local folder {store} is larger than {64 << 20:,} bytes" in said, said


def test_checkout_replaces_no_link_without_force_and_nothing_but_a_file_or_link_with_it(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A link that leads nowhere or to itself was taken for no file: checkout replaced it without --force. With --force
    a named pipe or a device was replaced by a file (run as root, '-o /dev/null --force' made /dev/null a file). Both
    are refused naming the path (exit 2) and left as they were; --force replaces a link itself, never what it leads to."""
    from prov_common.cli import main
    from prov_common.store import open_store
    from prov_common.store.snapshots import snapshot_path

    data = tmp_path / "notes.txt"
    data.write_text("kept\n")
    store = str(tmp_path / "store")
    digest = snapshot_path(open_store(store), data)
    (tmp_path / "nowhere.txt").symlink_to(tmp_path / "gone" / "x.txt")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    target = tmp_path / "target.txt"
    target.write_text("theirs\n")
    (tmp_path / "link.txt").symlink_to(target)
    os.mkfifo(tmp_path / "pipe.txt")

    def checkout(name: str, *force: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["checkout", digest, "-o", str(tmp_path / name), "--store", store, *force])
        return code, capsys.readouterr().err

    for name in ("nowhere.txt", "loop.txt", "link.txt"):
        assert checkout(name) == (2, f"tdprov checkout: '{tmp_path / name}' exists (a symbolic link: --force replaces the "
                                     "link, not what it leads to). Fix: pass --force to replace it, or choose another -o "
                                     "path\n"), name
        assert (tmp_path / name).is_symlink()
    assert checkout("pipe.txt", "--force") == (2, f"tdprov checkout: '{tmp_path / 'pipe.txt'}' is a named pipe, not a "
                                                  "file: --force replaces only a file or a symbolic link. Fix: choose "
                                                  "another -o path\n")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.txt").st_mode)
    assert checkout("link.txt", "--force")[0] == 0
    assert (tmp_path / "link.txt").read_text() == "kept\n" and not (tmp_path / "link.txt").is_symlink()
    assert target.read_text() == "theirs\n"


def _sealed_with_events_line(store: Path, line: bytes, job: str) -> str:
    """Seal a run of job ``job`` into ``store``, signed by this test's trusted key, whose ``events.jsonl`` ends with
    ``line`` (as a stolen key, or a producer whose staged events were sealed as they came, could sign it); its run id."""
    from prov_common.bundle.events import events_jsonl

    events = run_events()
    for event in events:
        event["job"]["name"] = job
    return seal_events_file(str(store), events, events_jsonl(events) + line + b"\n")


@pytest.mark.parametrize("line", [b"[1]", b'"x"', b"5", b"null", b"true"], ids=["list", "text", "number", "null", "bool"])
def test_a_signed_events_line_that_is_json_but_no_object_is_a_malformed_bundle(
        line: bytes, tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A line of a trusted bundle's events.jsonl that is JSON but not an object stopped verify, show, runs --verified,
    the audit, export --verified, record, lineage, contains and the Airflow bundle sensor for the whole store ("unexpected
    AttributeError: 'list' object has no attribute 'get'", exit 2). It is that bundle's one malformed finding, naming the
    file and line, as a line that is not JSON is; the other runs are read as usual. The sensor quotes the finding in
    brackets without its full stop, as the CLI does (it said "(... not a JSON object.): not taken.")."""
    from prov_airflow.matching import BundleQuery, find_bundle
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store

    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    bad = _sealed_with_events_line(store, line, "odd")
    finding = f"bundles/{bad}/events.jsonl: malformed: bundles/{bad}/events.jsonl line 3 is not a JSON object"
    left_out = f"left out run {bad}: its bundle does not verify ({finding}"
    for argv, code, said_too in (
            (["verify"], 1, [finding, f"OK    {run}"]), (["verify", bad], 1, [finding]), (["show", bad], 1, [finding]),
            (["runs", "--verified"], 1, [left_out, run]), (["audit", "--json"], 1, [f"bundles/{bad}/events.jsonl"]),
            (["audit", "--full", "--json"], 1, [f"bundles/{bad}/events.jsonl"]),
            (["export", "--verified", "-o", str(tmp_path / "p.json")], 1, [left_out]),
            (["export", "--verified", "--format", "ttl", "-o", str(tmp_path / "p.ttl")], 1, [left_out])):
        got, said = _verb(argv, capsys, caplog)
        assert got == code and "unexpected" not in said and all(s in said for s in said_too), (argv, got, said)
    assert run in (tmp_path / "p.json").read_text() and bad not in (tmp_path / "p.json").read_text()
    for argv in (["lineage", "s3://lake/clean/users.parquet"], ["record", "s3://lake/clean/users.parquet"]):
        got, said = _verb(argv, capsys, caplog)  # the run shown, or the other left out: never a stop
        assert got in (0, 1) and "unexpected" not in said and (got == 0 or left_out in said or bad in said), (argv, got, said)
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert find_bundle(open_store(str(store)), BundleQuery(job="odd"), trust_from_settings()) is None
    assert f"run {bad} matches, but its bundle does not verify ({finding}): not taken." in caplog.text, caplog.text


@pytest.mark.parametrize("line", [b'{"run":"x"}', b'{"run":[1]}'], ids=["text", "list"])
def test_a_signed_event_whose_run_is_no_object_names_no_run(line: bytes, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An event of a trusted bundle whose ``run`` is not an object stopped verify with an AttributeError (exit 2); it
    names no run, so the bundle holds events of another run than its own, as an event with no ``run`` does."""
    store, run = _sealed_store_read_here(tmp_path, monkeypatch)
    bad = _sealed_with_events_line(store, line, "odd")
    got, said = _verb(["verify"], capsys, caplog)
    assert got == 1 and "unexpected" not in said and f"OK    {run}" in said, said
    assert f"bundles/{bad}/events.jsonl: inconsistent: holds events of other runs: None" in said, said
