"""What a local folder or glob lists as shards when it holds something other than regular files: a named pipe
is refused by name in both forms (reading it would block forever); symbolic links to folders are followed in
both forms, and one leading back to a folder above it (a loop) is refused by name."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.errors import BadInputError
from prov_common.hashing import hash_shards
from prov_common.hashing.shard_list import list_shards

TIMEOUT = 60  # seconds: a listing or a hash that blocks on a pipe fails here instead of hanging the suite


def tdprov(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prov_common", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT)


def shard(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"a": [value]}), path)


@pytest.fixture()
def with_pipe(tmp_path: Path) -> Path:
    for i in range(2):
        shard(tmp_path / "d" / f"part-{i}.parquet", i)
    os.mkfifo(tmp_path / "d" / "part-9.parquet")
    os.mkfifo(tmp_path / "d" / "_pipe.parquet")  # not a shard: never opened, never refused
    return tmp_path


@pytest.mark.parametrize("target", ["d", "d/*.parquet", "d/**/*.parquet"])
def test_a_named_pipe_among_shards_is_refused_by_name(with_pipe, target):
    done = tdprov("hash", target, cwd=with_pipe)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "part-9.parquet" in done.stderr and "is a named pipe, not a regular file" in done.stderr, done.stderr
    assert "_pipe" not in done.stderr


def test_snapshot_and_diff_of_a_folder_with_a_named_pipe_exit_2(with_pipe):
    (with_pipe / "e").mkdir()
    shard(with_pipe / "e" / "part-0.parquet", 0)
    assert tdprov("hash", "--diff", "e", "d", cwd=with_pipe).returncode == 2
    assert tdprov("store", "init", "store", cwd=with_pipe).returncode == 0
    done = tdprov("snapshot", "--store", "store", "d", cwd=with_pipe)
    assert done.returncode == 2 and "named pipe" in done.stderr, done.stdout + done.stderr


@pytest.fixture()
def with_link(tmp_path: Path) -> Path:
    shard(tmp_path / "ds" / "real" / "part-0.parquet", 0)
    shard(tmp_path / "other" / "part-1.parquet", 1)
    (tmp_path / "ds" / "linked").symlink_to("../other")
    return tmp_path


@pytest.mark.parametrize("target", ["ds", "ds/**/*.parquet", "ds/*/*.parquet"])
def test_a_symlinked_subfolder_is_listed_in_every_form(with_link, target, monkeypatch):
    monkeypatch.chdir(with_link)
    assert [ref.path for ref in list_shards(target)] == ["linked/part-1.parquet", "real/part-0.parquet"]


def test_a_folder_and_its_glob_get_one_digest_with_a_symlinked_subfolder(with_link, monkeypatch):
    monkeypatch.chdir(with_link)
    assert hash_shards("ds", cache=False).digest == hash_shards("ds/**/*.parquet", cache=False).digest


@pytest.mark.parametrize("target", ["ds", "ds/**/*.parquet"])
@pytest.mark.parametrize("link", ["..", "../real", "."], ids=["to the parent", "to itself by name", "to itself"])
def test_a_link_loop_is_refused_by_name(with_link, target, link, monkeypatch):
    monkeypatch.chdir(with_link)
    (with_link / "ds" / "real" / "again").symlink_to(link)
    with pytest.raises(BadInputError, match="again") as caught:
        list_shards(target)
    assert "symbolic link" in str(caught.value)


@pytest.mark.parametrize("target", ["ds", "ds/**/*.parquet"])
def test_a_link_loop_renamed_as_its_refusal_says_is_listed(with_link, target, monkeypatch):
    """The refusal of a loop told a glob holding ``**`` to give the link a name starting with '.' or '_', but such a
    glob walks folders starting with '_', so a link renamed ``_again`` was refused again; each name it offers now
    lists the shards."""
    monkeypatch.chdir(with_link)
    link = with_link / "ds" / "real" / "again"
    link.symlink_to("..")
    with pytest.raises(BadInputError) as caught:
        list_shards(target)
    offered = [c for c in "._" if f"'{c}'" in caught.value.fix]
    assert offered
    for c in offered:
        link.rename(link.with_name(f"{c}again"))
        assert [ref.path for ref in list_shards(target)] == ["linked/part-1.parquet", "real/part-0.parquet"]
        link.with_name(f"{c}again").rename(link)


def test_two_links_to_one_folder_list_it_twice_in_every_form(with_link, monkeypatch):
    monkeypatch.chdir(with_link)
    (with_link / "ds" / "real" / "same").symlink_to("../../other")
    expected = ["linked/part-1.parquet", "real/part-0.parquet", "real/same/part-1.parquet"]
    assert [ref.path for ref in list_shards("ds")] == [ref.path for ref in list_shards("ds/**/*.parquet")] == expected


def test_a_link_loop_in_a_hidden_folder_of_a_folder_is_not_walked(with_link, monkeypatch):
    monkeypatch.chdir(with_link)
    (with_link / "ds" / "_tmp").mkdir()
    (with_link / "ds" / "_tmp" / "up").symlink_to("..")
    assert len(list_shards("ds")) == 2



def test_a_subfolder_that_cannot_be_listed_is_refused_not_left_out(tmp_path: Path) -> None:
    """A folder walk skipped a subfolder it could not list, so the version's digest left its shards out without a
    word; it is now an error naming that folder, as an unreadable shard is. As root, tdprov runs without the
    capabilities that read every folder (``setpriv --bounding-set``)."""
    import shutil

    shard(tmp_path / "d" / "part-0.parquet", 0)
    shard(tmp_path / "d" / "sub" / "part-1.parquet", 1)
    shard(tmp_path / "d" / "_hidden" / "part-2.parquet", 2)  # not a shard folder: never listed, never refused
    plain: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: every folder can be listed")
        plain = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]

    def hash_folder() -> subprocess.CompletedProcess:
        return subprocess.run([*plain, sys.executable, "-m", "prov_common", "hash", str(tmp_path / "d")],
                              cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)

    for folder in ("sub", "_hidden"):
        (tmp_path / "d" / folder).chmod(0o000)
    try:
        if subprocess.run([*plain, "ls", str(tmp_path / "d" / "sub")], capture_output=True).returncode == 0:
            pytest.skip("this user lists a folder of mode 000")
        done = hash_folder()
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert str(tmp_path / "d" / "sub") in done.stderr and "ermission" in done.stderr, done.stderr
        assert done.stdout == ""
        (tmp_path / "d" / "sub").chmod(0o755)
        done = hash_folder()
        assert done.returncode == 0 and done.stdout.startswith("blake3:"), done.stderr
    finally:
        for folder in ("sub", "_hidden"):
            (tmp_path / "d" / folder).chmod(0o755)


@pytest.mark.parametrize("target", ["d", "d/*.parquet", "d/**/*.parquet"])
@pytest.mark.parametrize(("link", "leads"), [("gone.parquet", "to nothing"), ("part-9.parquet", "round a loop of links")],
                         ids=["dangling", "to itself"])
def test_a_link_that_leads_to_no_file_is_refused_by_name(tmp_path: Path, target, link, leads, monkeypatch):
    """A shard that is a symbolic link to nothing (or round a loop of links) was the OSError of its stat: 'cannot use
    d/part-9.parquet: No such file or directory. Fix: check the path for a typo', of a path no one typed."""
    monkeypatch.chdir(tmp_path)
    shard(tmp_path / "d" / "part-0.parquet", 0)
    (tmp_path / "d" / "part-9.parquet").symlink_to(link)
    with pytest.raises(BadInputError) as refused:
        list_shards(target)
    assert str(refused.value).startswith(f"'d/part-9.parquet' is a symbolic link that leads {leads} ('{link}'), so it "
                                         "cannot be a shard."), refused.value
    assert refused.value.fix.startswith("remove the link or restore what it names, give it a name starting with")


def test_an_outlet_folder_holding_a_dangling_link_is_no_missing_outlet(tmp_path: Path):
    """The Airflow listener took the link's FileNotFoundError for an outlet the task did not write ('missing'): the
    folder of shards it wrote was recorded as not written. It is an outlet that could not be hashed, naming the link."""
    from prov_airflow.capture import hash_one
    from prov_airflow.settings import ListenerLimits

    shard(tmp_path / "d" / "part-0.parquet", 0)
    (tmp_path / "d" / "part-9.parquet").symlink_to("gone.parquet")
    capture = hash_one((tmp_path / "d").as_uri(), ListenerLimits(dask_scheduler="none"), 30.0)
    assert (capture.status, capture.message) == (
        "error", f"BadInputError: {str(tmp_path / 'd' / 'part-9.parquet')!r} is a symbolic link that leads to nothing "
                 "('gone.parquet'), so it cannot be a shard. Fix: remove the link or restore what it names, give it a "
                 "name starting with '.' or '_', or name the shards with a glob that leaves it out.")


@pytest.mark.parametrize("target", ["d", "d/**/*"])
@pytest.mark.parametrize("name", [b"\xff.csv", b"sub-\xe9/part-1.csv"], ids=["file", "folder"])
def test_a_shard_named_with_bytes_that_are_not_utf8_is_refused_by_name(tmp_path: Path, target, name):
    """A shard's path is part of the dataset's digest as UTF-8 text, and a name of Latin-1 bytes (as an old archive
    unpacks) has none: every shard was read, then the digest failed with 'unexpected UnicodeEncodeError: ... surrogates
    not allowed', naming neither the file nor a fix. It is refused at listing, naming it; a hidden one is skipped."""
    shard(tmp_path / "d" / "part-0.parquet", 0)
    folder = os.fsencode(tmp_path / "d")
    odd = os.path.join(folder, name)
    os.makedirs(os.path.dirname(odd), exist_ok=True)
    for path in (odd, os.path.join(folder, b"_\xff.csv")):
        with open(path, "wb") as f:
            f.write(b"a,b\n1,2\n")
    done = subprocess.run([sys.executable, "-m", "prov_common", "hash", "--scheduler", "none", target], cwd=tmp_path,
                          capture_output=True, timeout=TIMEOUT)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.decode() == (
        f"tdprov hash: shard {b'd/' + name!r} is named with bytes that are not UTF-8, and a shard's path is part of "
        "the dataset's digest as UTF-8 text, so it cannot be a shard. Fix: rename it in UTF-8 (e.g. convmv -f latin1 "
        "-t utf-8 --notest, if it is Latin-1), give it a name starting with '.' or '_', or name the shards with a glob "
        "that leaves it out.\n"), done.stderr
    os.rename(odd, os.path.join(folder, b"_" + os.path.basename(name)))  # as the fix says: hidden, it is skipped
    assert [ref.path for ref in list_shards(str(tmp_path / target))] == ["part-0.parquet"]
