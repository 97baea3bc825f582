"""Every verb with hostile arguments: exit 2, one line on stderr naming the thing and the fix, no traceback.

The sweep covers every verb the parser has (a test fails when a verb is added without cases), runs
each case through the real entry point in this process (so an escaping exception fails the test), and
a sample of them as real processes (so nothing prints a traceback at exit either). Reading verbs never
create a store: a mistyped store is exit 2 and the folder stays absent.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bundle_support import run_events
from mount_support import read_only
from prov_common.cli import build_parser, main

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
        "audit": [["--store", TYPO], ["--stale-hours", "nan", *s], ["--stale-hours", "inf", *s], ["--stale-hours", "-1", *s],
                  ["--stale-hours", "soon", *s], ["--report", f["csv"], *s], ["--report", MISSING + "/deeper", *s]],
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
                 ["--diff", f["csv"]], [f["deepl"]], [f["nul"]]],
        "keygen": [["-o", MISSING + "/k"], ["-o", f["folder"]]],
        "lineage": [["model", "--store", TYPO], ["model", "--depth", "-3", *s], ["model", "-o", MISSING + ".svg", *s]],
        "prov": [[f["events"], "-o", MISSING], [f["events"], "-o", f["folder"]], [f["deepl"]], [f["nul"]], [TYPO],
                 [f["csv"]]],
        "prove": [["--store", TYPO], ["not-a-run", *s], ["--consistency", "9", "-1", *s]],
        "record": [["model", "--store", TYPO], ["model", "-o", MISSING, *s], ["model", "--format", "pdf", *s]],
        "runs": [["--store", TYPO], ["--limit", "-5", *s], ["--limit", "many", *s], ["--store", f["csv"]],
                 ["--store", "file://"], ["--store", "file://host/x"]],
        "show": [["not/a/run", *s], [str(uuid.uuid4()), "--store", TYPO]],
        "snapshot": [[f["csv"], "--store", TYPO], [MISSING, *s], [f["folder"], *s], [f["csv"], "--dataset", "x", "--store", f["csv"]]],
        "source": [["add", f["csv"], "--name", "n", "--license", "MIT", "--issuer", "me", "--personal-columns", "nosuchcol", *s],
                   ["add", f["csv"], "--name", "n", "--license", "MIT", "--issuer", "me", "--confidential-columns", "b,zz", *s],
                   ["add", TYPO, "--name", "n", "--license", "MIT", "--issuer", "me", *s], ["list", "--store", TYPO]],
        "store": [["repair", "--store", TYPO], ["init", "s3://"], ["init", f["csv"]], ["frobnicate"]],
        "verify": [["--store", TYPO], ["--trusted-keys", TYPO, *s], ["not/a/run", *s]],
    }


def test_every_verb_has_hostile_cases(files) -> None:
    parser = build_parser()
    verbs = set(next(a for a in parser._actions if a.dest == "verb").choices)
    assert verbs == set(_cases(files)), verbs ^ set(_cases(files))


def _one_line_error(err: str, verb: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith(f"tdprov {verb}") and "Fix:" in lines[0], err
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


def _sealed_store(tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    """A local store holding one sealed run, the environment that reads it (its signer's home), and the run id."""
    from test_audit_support import seal

    from prov_common.store import open_store

    store, home = tmp_path / "store", tmp_path / "home"
    env = {"TDPROV_HOME": str(home), "TDPROV_STORE": str(store)}
    os.environ.update(env)  # this process seals with the key the subprocesses trust
    try:
        run = seal(open_store(str(store)), run_events())
    finally:
        for name in env:
            os.environ.pop(name, None)
    return store, env, run


def _tdprov(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prov_common", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_a_named_pipe_or_device_in_a_local_store_is_a_finding_never_a_hang(tmp_path: Path) -> None:
    """A named pipe in place of a bundle's events (and a link to a device in place of its PROV) would block
    or feed a reader without end: verify and the full audit name each as unreadable and finish (exit 1);
    a pipeline whose staging holds a pipe still seals the run it saw; a key file that is a device or too
    large is refused in one line (exit 2)."""
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    store, env, run = _sealed_store(tmp_path)
    bundle = store / "bundles" / run
    (bundle / "events.jsonl").unlink()
    os.mkfifo(bundle / "events.jsonl")
    (bundle / "prov.json").unlink()
    (bundle / "prov.json").symlink_to("/dev/zero")
    for args in (["verify", run], ["audit", "--full", "--json"]):
        done = _tdprov(*args, env=env)
        out = done.stdout + done.stderr
        assert done.returncode == 1, (args, out)
        assert "events.jsonl is a named pipe, not a regular file" in out and "prov.json is a device" in out, (args, out)
    staged = str(uuid.uuid4())
    (store / "staging" / staged).mkdir(parents=True)
    os.mkfifo(store / "staging" / staged / "0-pipe.json")
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store), timeout=5.0))
    results = [transport.emit(e) for e in run_events(staged)]
    assert results[-1].status == "written"  # the run's own events are sealed, the pipe named in a warning
    (tmp_path / "zero.pub").symlink_to("/dev/zero")
    (tmp_path / "big.pub").write_bytes(b"-" * 100_000)
    for key, said in (("zero.pub", "is a device"), ("big.pub", "is larger than 65,536 bytes")):
        done = _tdprov("verify", run, env={**env, "TDPROV_TRUSTED_KEYS": str(tmp_path / key)})
        assert done.returncode == 2 and said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


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
    assert "events.jsonl' in local folder" in out and "is larger than" in out, out


def test_a_symlink_loop_in_a_local_store_is_a_failing_bundle_not_a_crash(tmp_path: Path) -> None:
    """A link from inside the store back to its root (tdprov never writes links) is walked once: verify and
    the audit finish and name it, instead of stopping with a file-system error."""
    store, env, run = _sealed_store(tmp_path)
    (store / "bundles" / "zloop").symlink_to("..")
    done = _tdprov("verify", env=env)
    assert done.returncode == 1 and f"OK    {run}" in done.stdout and "FAIL  zloop" in done.stdout, done.stdout + done.stderr
    audited = _tdprov("audit", "--quiet", env=env)
    assert audited.returncode in (0, 1) and "Traceback" not in audited.stderr, audited.stderr



def test_a_named_pipe_in_place_of_an_index_entry_is_a_damaged_entry(tmp_path: Path) -> None:
    """Every reader of an index entry reads it one way (bounded, regular files only): a named pipe there is
    a damaged entry to verify, the audit and the listing alike, which name it and go on; none stops."""
    store, env, run = _sealed_store(tmp_path)
    (entry,) = (store / "index").rglob("*.json")
    entry.unlink()
    os.mkfifo(entry)
    done = _tdprov("verify", env=env)
    assert done.returncode == 1 and "is not a bundle summary" in done.stdout and "named pipe" in done.stdout, done.stdout + done.stderr
    audited = _tdprov("audit", "--json", env=env)
    assert audited.returncode == 1 and "named pipe" in audited.stdout, audited.stderr
    listed = _tdprov("runs", env=env)
    assert listed.returncode == 0 and run in listed.stdout and "named pipe" in listed.stderr, listed.stderr


def _named_run(store: str, job: str, output: str) -> tuple[str, dict]:
    """Record a run of job ``job`` writing dataset ``s3://lake``/``output`` through the transport; its id and the output."""
    from bundle_support import dataset, event
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    run_id = str(uuid.uuid4())
    out_ds = dataset("s3://lake", output, "blake3:" + "2" * 64)
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z", job=job))
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", job=job, outputs=[out_ds]))
    transport.close()
    return run_id, out_ds


def test_control_characters_in_recorded_names_never_reach_the_terminal(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A producer names its job and datasets with an OSC title, a screen clear, a carriage return and a
    right-to-left override: runs, show, lineage and an error print them escaped, never raw."""
    from prov_common.cli import main

    evil = "x\x1b]0;PWNED\x07\x1b[2J\r\u202eexe.txt"
    store = str(tmp_path / "store")
    run_id, _ = _named_run(store, f"job{evil}", f"model{evil}")
    for argv in (["runs"], ["show", run_id], ["lineage", f"s3://lake/model{evil}"], ["lineage", f"nothing{evil}"]):
        main([*argv, "--store", store])
        out, err = capsys.readouterr()
        assert "exe.txt" in out + err, argv
        for raw in ("\x1b", "\r", "\x07", "\u202e"):
            assert raw not in out and raw not in err, (argv, raw, out, err)
        assert "\\x1b]0;PWNED\\x07" in out + err and "\\u202e" in out + err, argv


def test_a_newline_in_a_recorded_name_cannot_add_a_line(tmp_path, capsys: pytest.CaptureFixture) -> None:
    """A job named with a newline and a fake run row after it, a dataset and a file named with a newline and a
    fake digest line: runs, show, lineage and hash printed the forged lines as lines of their own. Within
    a line, a newline is shown as \\n (as sha256sum shows file names)."""
    from prov_common.cli import main

    forged_run = "00000000-0000-4000-8000-000000000000  dagster://default/approved_by_legal  COMPLETE"
    forged_digest = "blake3:" + "0" * 64 + "  trusted.parquet"
    store = str(tmp_path / "store")
    run_id, out_ds = _named_run(store, f"train\n{forged_run}", f"model\n{forged_digest}")
    data = tmp_path / f"a\n{forged_digest}.csv"
    data.write_text("id\n1\n")
    for argv in (["runs", "--store", store], ["show", run_id, "--store", store], ["lineage", out_ds["namespace"] + "/" + out_ds["name"], "--store", store],
                 ["hash", str(data)]):
        main(argv)
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert not [line for line in lines if line.startswith((forged_run[:36], "blake3:" + "0" * 64))], (argv, out)
        assert "\\n" in out, (argv, out)


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
