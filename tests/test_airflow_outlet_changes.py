"""An outlet another writer changes while the Airflow listener captures it at the end of a try: the version
recorded must be one the try can be credited with, or none.

The listener hashes an outlet, then notes what it holds, to tell whether the try wrote it (its state at the
try's start against this one). Here a new version is published over the outlet just as its hash ends, by
wrapping the hashing the listener calls.
"""
from __future__ import annotations

import os
from pathlib import Path

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)

from prov_airflow.capture import hash_one, start_states
from prov_airflow.settings import ListenerLimits
from prov_airflow.unwritten import split_written
from prov_common.hashing import targets


def test_an_outlet_published_over_while_it_is_captured_is_not_credited_to_the_try(tmp_path: Path, monkeypatch) -> None:
    """The try did not write the outlet; another task renamed a new version over it as the hash ended. The
    listener credited the try with writing the old version (the one it hashed), which an earlier run wrote."""
    path = tmp_path / "out.csv"
    path.write_text("a\n1\n")
    uri = path.as_uri()
    before = start_states([uri])  # the try starts; it writes nothing to the outlet
    real = targets.hash_dataset_here_if_unreachable

    def hashed_then_published(*args, **kwargs):
        digest = real(*args, **kwargs)
        fresh = tmp_path / "out.csv.new"
        fresh.write_text("a\n2\n")
        os.replace(fresh, path)  # another writer publishes, as the listener ends its hash
        return digest

    monkeypatch.setattr(targets, "hash_dataset_here_if_unreachable", hashed_then_published)
    capture = hash_one(uri, ListenerLimits(dask_scheduler="none"), 30.0, stamp=True)
    written, _ = split_written([capture], started=None, before=before)
    assert [c.digest for c in written if c.digest is not None] == []  # no version credited to the try
    assert capture.status == "error"
    assert capture.message == (f"BadInputError: {uri!r} changed while it was hashed: another writer wrote it meanwhile, "
                               "so the digest cannot be tied to what it holds or to this try. Fix: let one task "
                               "write it at a time, or declare it an outlet only of the task that writes it.")


def _captured_with(tmp_path: Path, monkeypatch, during_first_hash) -> tuple:
    """The capture of an outlet the try wrote, with ``during_first_hash(path)`` done as the listener's first hash of
    it ends; the capture and the digest of its file hashed on its own afterwards."""
    from prov_common.hashing.files import hash_path

    path = tmp_path / "out.csv"
    uri = path.as_uri()
    before = start_states([uri])  # the try starts: no outlet yet
    path.write_text("a\n1\n")  # the try writes it
    real = targets.hash_dataset_here_if_unreachable
    calls = []

    def hashed_then(*args, **kwargs):
        digest = real(*args, **kwargs)
        if not calls:
            during_first_hash(path)
        calls.append(1)
        return digest

    monkeypatch.setattr(targets, "hash_dataset_here_if_unreachable", hashed_then)
    capture = hash_one(uri, ListenerLimits(dask_scheduler="none"), 30.0, stamp=True)
    written, _ = split_written([capture], started=None, before=before)
    return capture, written, hash_path(path).digest


def test_an_outlet_whose_change_time_alone_moved_while_it_was_hashed_is_recorded_as_written(
        tmp_path: Path, monkeypatch) -> None:
    """A chmod of the outlet as its hash ended (its change time moved; size, modification time, inode and bytes the
    same) had the outlet recorded without a digest, as written by another writer. It is hashed once more, as the
    hashing of one file does for a change of status alone, and recorded with its digest."""
    capture, written, digest = _captured_with(tmp_path, monkeypatch, lambda path: os.chmod(path, 0o600))
    assert (capture.status, capture.message) == ("hashed", "")
    assert capture.digest.digest == digest and [c.digest.digest for c in written] == [digest]


def test_an_outlet_rewritten_in_place_with_its_old_times_while_it_was_hashed_is_not_credited(
        tmp_path: Path, monkeypatch) -> None:
    """A rewrite in place that sets the old modification time back (``rsync -t --inplace``) moves the change time
    alone too, but the bytes differ: the outlet is still recorded without a digest, as written by another writer."""
    def rewritten_with_old_times(path: Path) -> None:
        st = os.stat(path)
        with open(path, "r+b") as f:
            f.write(b"a\n2\n")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    capture, written, _ = _captured_with(tmp_path, monkeypatch, rewritten_with_old_times)
    assert capture.status == "error" and "changed while it was hashed: another writer" in capture.message
    assert [c.digest for c in written if c.digest is not None] == []


def test_an_s3_object_outlet_is_judged_by_its_etag_and_version_noted_at_the_start(s3_server, caplog) -> None:
    """What an S3 object outlet holds (ETag, VersionId) is noted when the try starts: one another task wrote just before
    is unchanged by the try, with no clock compared. Without that note (its HEAD request failed) the object is judged
    by its ``LastModified``, in whole seconds, and a warning says so."""
    import time

    client, bucket = s3_server.client(), s3_server.create_bucket()
    uri = f"s3://{bucket}/out.csv"
    client.put_object(Bucket=bucket, Key="out.csv", Body=b"a\n1\n")  # another task writes it, just before the try
    started = time.time()
    before = start_states([uri])
    capture = hash_one(uri, ListenerLimits(dask_scheduler="none"), 30.0, stamp=True)
    with caplog.at_level("WARNING"):
        written, unwritten = split_written([capture], started, before)
    assert (written, [(o.name, o.reason) for o in unwritten]) == ([], [("out.csv", "unchanged")])
    assert not [r for r in caplog.records if "held when the try started could not be read" in r.getMessage()]
    with caplog.at_level("WARNING"):
        written, _ = split_written([capture], started, {})
    assert written == [capture]
    assert (f"tdprov: what S3 object {uri} held when the try started could not be read (its HEAD request failed or "
            "did not answer within [tdprov] hash_timeout, or [tdprov] data_aws_conn_id could not be read): it is judged "
            "written by the try by its LastModified, in whole seconds, so a write by another task up to 3 seconds "
            "before the try started counts as the try's. Fix: let the credentials that read the data send a HEAD "
            "request for it (s3:GetObject), answered within [tdprov] hash_timeout") in [r.getMessage() for r in caplog.records]


def test_an_s3_outlet_whose_head_does_not_answer_at_the_start_is_judged_by_the_time_rule(
        s3_server, s3_fault, tmp_path: Path, monkeypatch, caplog) -> None:
    """The HEAD that notes an S3 object outlet at the try's start had no bound: an endpoint that takes the request and
    never answers held the start for botocore's timeouts and retries (60 s each). It now shares the start hook's
    [tdprov] hash_timeout: past it the outlet is left without a note, with a warning, and judged by its LastModified,
    the local outlet noted before it keeping its note."""
    import time

    client, bucket = s3_server.client(), s3_server.create_bucket()
    uri, local = f"s3://{bucket}/out.csv", tmp_path / "out.csv"
    client.put_object(Bucket=bucket, Key="out.csv", Body=b"a\n1\n")  # another task writes it, just before the try
    local.write_text("a\n1\n")
    s3_fault("hang")  # the data's endpoint takes the HEAD and never answers
    began, started = time.monotonic(), time.time()
    with caplog.at_level("WARNING"):
        before = start_states([local.as_uri(), uri], ListenerLimits(timeout=2.0), 2.0)
    assert time.monotonic() - began < 30  # unbounded: over 60 s
    assert list(before) == [local.as_uri()]
    assert (f"tdprov: what {uri} held when the try started was not noted within [tdprov] hash_timeout=2.0s (an S3 "
            "endpoint or a mount did not answer): each is judged written by the try by when its data last changed. "
            "Fix: let the data be reached from where the task runs, or raise [tdprov] hash_timeout"
            ) in [r.getMessage() for r in caplog.records]
    s3_server.point(monkeypatch)  # the endpoint answers again at the try's end
    capture = hash_one(uri, ListenerLimits(dask_scheduler="none"), 30.0, stamp=True)
    caplog.clear()
    with caplog.at_level("WARNING"):
        written, _ = split_written([capture], started, before)
    assert written == [capture]  # written 0 to 1 s before it started: within CLOCK_SKEW, the time rule's blind spot
    assert [r.getMessage() for r in caplog.records if "held when the try started could not be read" in r.getMessage()]
