"""Attachment paths in a bundle are one per dataset (namespace and name), readable, and stable; one path of a run
holds one content; a row set under the path form of earlier bundles still answers ``tdprov contains``."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from prov_common.bundle import AttachmentConflict, Attachments, build_bundle, layout, rows_path, samples_path
from prov_common.bundle.storage import deliver_bundle
from prov_common.hashing import hash_dataframe
from prov_common.lineage.datasets import DatasetRef
from prov_common.lineage.events import build_run_event
from prov_common.rowset import RowProof, row_set_of, row_set_path
from prov_common.signing import default_signing_key
from prov_common.store import open_store

from rows_support import contains_cli

LONG = "x" * 130 + ".parquet"
# (namespace, name) pairs that the readable part alone (safe_name) cannot tell apart
LOOKALIKES = [("file", "/d/a/b.parquet"), ("file", "/d/a_b.parquet"), ("file", "/d/a b.parquet"),
              ("file", f"/d/v1/{LONG}"), ("file", f"/d/v2/{LONG}"), ("s3://one", "a_b.parquet"), ("s3://two", "a_b.parquet")]


def test_each_dataset_has_its_own_paths() -> None:
    for make in (samples_path, rows_path, row_set_path):
        paths = [make(namespace, name) for namespace, name in LOOKALIKES]
        assert len(set(paths)) == len(paths), paths
        for path in paths:
            assert layout.check_attachment_path(path) == path and path.count("/") == 1
    # readable: the name made key-safe, then 16 hex characters of the SHA-256 of the canonical [namespace, name]
    assert row_set_path("file", "/d/a/b.parquet") == "rows/d_a_b.parquet-a40ef5930f1f769a.rowset"
    assert samples_path("s3://lake", "clean/users") == "quality/clean_users-ad3cfad20abce918.samples.parquet"
    assert re.fullmatch(r"rows/x{112}\.parquet-[0-9a-f]{16}\.rowset", row_set_path("file", f"/d/v1/{LONG}"))  # last 120


def test_one_path_of_a_run_holds_one_content() -> None:
    attachments = Attachments()
    assert attachments.add("rows/t.rowset", b"one", "file", "/d/a/b.parquet") == "rows/t.rowset"
    attachments.add("rows/t.rowset", bytearray(b"one"), "file", "/d/a/b.parquet")  # the same content again: kept once
    with pytest.raises(AttachmentConflict) as refused:
        attachments.add("rows/t.rowset", b"two", "file", "/d/a_b.parquet")
    assert "'/d/a/b.parquet' in 'file'" in str(refused.value) and "'/d/a_b.parquet' in 'file'" in str(refused.value)
    assert "rows/t.rowset" in str(refused.value) and refused.value.fix
    assert dict(attachments) == {"rows/t.rowset": b"one"}  # never overwritten
    copy = attachments.copy()
    with pytest.raises(AttachmentConflict):
        copy.add("rows/t.rowset", b"two", "file", "/d/a_b.parquet")


def test_a_row_set_under_the_earlier_path_form_still_answers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Bundles sealed before paths named the dataset's identity keep ``rows/<safe name>.rowset``: readers follow
    the facet's ``rowDigestsFile``, so ``tdprov contains`` answers with a proof that verifies."""
    store = open_store(str(tmp_path / "store"))
    frame = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    td = hash_dataframe(frame, granularity="row")
    built = row_set_of(td, "file", "/data/customers.parquet")
    old_path = "rows/data_customers.parquet.rowset"  # safe_name alone, as earlier bundles named it
    assert built.path != old_path
    ref = DatasetRef("file", "/data/customers.parquet", digest=td, row_digests_file=old_path, rows_root=built.root)
    run_id, start = str(uuid.uuid4()), datetime(2026, 1, 5, tzinfo=timezone.utc)
    events = [build_run_event("START", run_id=run_id, job_name="load", event_time=start),
              build_run_event("COMPLETE", run_id=run_id, job_name="load", outputs=[ref], event_time=start + timedelta(minutes=1))]
    deliver_bundle(store, build_bundle(events, {old_path: built.data}, default_signing_key()))

    code, answer, _ = contains_cli(td.digest, {"id": 2, "name": "b"}, store.uri, capsys)
    assert code == 0 and answer["contained"] and answer["rowDigests"] == f"bundles/{run_id}/{old_path}"
    RowProof.from_dict(answer["proof"]).check(built.root)
