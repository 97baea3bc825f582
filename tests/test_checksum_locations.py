"""The SHA-256 a training-data record gives for a file is found whatever spelling of a local file URI names it."""
from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest

from prov_common.hashing import hash_path
from prov_common.sources.checksums import file_facts


@pytest.mark.parametrize("spell", [str, lambda p: f"file://{p}", lambda p: f"file:{p}", lambda p: f"file://localhost{quote(str(p))}"])
def test_a_file_named_by_any_local_spelling_gets_its_sha256(tmp_path: Path, spell) -> None:
    path = tmp_path / "a b.csv"
    pd.DataFrame({"x": [1, 2]}).to_csv(path, index=False)
    facts = file_facts(spell(path), hash_path(path).digest)
    assert facts.problem is None, facts.problem
    assert facts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and facts.size == path.stat().st_size


def test_each_s3_shard_is_read_once_for_its_digest_and_sha256(s3_server, s3_bucket: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A sharded S3 version's checksums: a shard not in the shard-digest cache gives its digest and the SHA-256 of its
    bytes from one GetObject (it was read again for the SHA-256); a shard the cache knows is read once, for it."""
    from prov_common.hashing import hash_shards
    from prov_common.hashing.remote import s3_client

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))  # an empty shard-digest cache
    shards = {f"corpus/part-{i}.csv": pd.DataFrame({"x": [i, i + 1]}).to_csv(index=False).encode() for i in range(3)}
    for key, body in shards.items():
        s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=body)
    target = f"s3://{s3_bucket}/corpus/"
    version = hash_shards(target, cache=False, scheduler="none").digest
    gets: list[str] = []
    events = s3_client().meta.events  # the client tdprov reads data objects through
    events.register("provide-client-params.s3.GetObject", lambda params, **_: gets.append(params["Key"]),
                    unique_id="count-gets")
    try:
        first = file_facts(target, version)
        reads_first, gets[:] = sorted(gets), []
        cached = file_facts(target, version)  # the digests come from the cache now
    finally:
        events.unregister("provide-client-params.s3.GetObject", unique_id="count-gets")
    assert first.problem is None and cached.problem is None, (first.problem, cached.problem)
    assert reads_first == sorted(gets) == sorted(shards)
    expected = [(f"part-{i}.csv", hashlib.sha256(shards[f"corpus/part-{i}.csv"]).hexdigest()) for i in range(3)]
    assert [(s.path, s.sha256) for s in first.shards] == [(s.path, s.sha256) for s in cached.shards] == expected
