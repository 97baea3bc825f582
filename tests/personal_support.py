"""Planted personal data for the failure-sample tests: the frame, its schema, source records and a
scan of everything written that also looks inside Parquet, gzip and JSON (so compression or
escaping cannot hide a leak from the scan)."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow.parquet as pq

from bundle_support import all_stored_bytes
from prov_common.bundle import read_bundle
from prov_common.hashing import hash_path
from prov_common.signing import SigningKey, default_signing_key, sign_envelope
from prov_common.sources import SourceRecord, register_source
from prov_common.sources.model import SOURCE_PAYLOAD_TYPE
from prov_common.sources.registry import source_key
from prov_common.store import open_store

PLANTED = "flagged.person@example.net"
# A failing value of an unflagged column: it must stay in the sample. Long enough (12 digits) that
# random names, digests and timestamps in what is scanned cannot contain it by chance ("4242" did).
VISIBLE = "918273645546"
# The schema flags nothing: only the source record says that `email` is personal.
PEOPLE = pa.DataFrameSchema(
    {"email": pa.Column(str, pa.Check.str_matches(r"^[a-z]+$")), "age": pa.Column(int, pa.Check.in_range(0, 120), metadata={"personal": False})},
    name="People",
)


def people() -> pd.DataFrame:
    return pd.DataFrame({"email": [PLANTED, "ok", PLANTED], "age": [int(VISIBLE), 30, 31]})


def write_people(path: Path) -> Path:
    people().to_parquet(path, index=False)
    return path


def register_people(store_uri: str, path: Path, name: str = "people-raw", **flags: object) -> SourceRecord:
    """Register the table at ``path`` as a signed source record (its digest and location) with ``flags``."""
    record = SourceRecord(name=name, digest=hash_path(path).digest, license="CC-BY-4.0", issuer="acme",
                          location=str(path), **flags)  # type: ignore[arg-type]
    register_source(open_store(store_uri), record, default_signing_key())
    return record


def plant_unverified_record(store: str, name: str, digest: str, how: str) -> str:
    """Put a source record that does not verify at ``sources/<name>/<digest hex>.json``: one signed by a key nobody
    trusts, or damaged bytes. Returns its key."""
    key = source_key(name, digest)
    if how == "forged":
        forged = SourceRecord(name=name, digest=digest, license="PROPRIETARY-FORGED", issuer="Mallory Ltd")
        blob = sign_envelope(forged.to_json(), SOURCE_PAYLOAD_TYPE, [SigningKey.generate()]).to_json()
    else:
        blob = b"not json"
    open_store(store).put(key, blob)
    return key


def decoded(blob: bytes) -> bytes:
    """``blob`` plus what it holds once decoded: Parquet cells, gzip content, JSON strings unescaped."""
    parts = [blob]
    if blob[:2] == b"\x1f\x8b":
        parts.append(decoded(gzip.decompress(blob)))
    if blob[:4] == b"PAR1" and blob[-4:] == b"PAR1":
        table = pq.read_table(io.BytesIO(blob))
        parts.append(table.to_pandas().astype(str).to_csv().encode())
    try:
        parts.append(json.dumps(json.loads(blob), ensure_ascii=False).encode())
    except ValueError:
        pass
    for line in blob.splitlines() if blob[:1] == b"{" else ():
        try:
            parts.append(json.dumps(json.loads(line), ensure_ascii=False).encode())
        except ValueError:
            pass
    return b"\n".join(parts)


def written(root: Path | str) -> bytes:
    """Every object under a store or spool folder (or s3:// store), decoded as :func:`decoded` does."""
    if str(root).startswith("s3://"):
        return decoded(all_stored_bytes(str(root)))
    files = sorted(p for p in Path(root).rglob("*") if p.is_file())
    return b"\n".join(str(p).encode() + b"\n" + decoded(p.read_bytes()) for p in files)


def assert_nowhere(blob: bytes, where: str, value: str = PLANTED) -> None:
    for form in (value.encode(), value.encode("utf-16-le"), json.dumps(value)[1:-1].encode()):
        assert form not in blob, f"{value!r} found in {where}"


def sample_files(store_uri: str, run_id: str) -> dict[str, bytes]:
    """The failure-sample files of a run's bundle."""
    files = read_bundle(open_store(store_uri), run_id).files
    return {name: data for name, data in files.items() if name.endswith(".samples.parquet")}


def sample_table(data: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(data)).to_pandas()
