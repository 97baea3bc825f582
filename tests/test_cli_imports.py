"""Verbs load only the libraries their work needs, so that each ``tdprov`` process starts fast.

Each command runs in a fresh interpreter (the CLI's ``main``), which then names the libraries it loaded.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bundle_support import record_runs

# Never needed by these verbs on a local store: pandas (tables are read by Arrow, but CSV by pandas.read_csv), the
# OpenLineage client (HTTP transports), rdflib and lxml (PROV-JSON needs neither), boto3, Dask and the orchestrators.
UNNEEDED = ("pandas", "openlineage.client", "rdflib", "lxml", "boto3", "dask", "distributed", "dagster", "airflow")


def loaded(*argv: str) -> list[str]:
    """The :data:`UNNEEDED` libraries that ``tdprov ARGV...`` loads; the command must succeed."""
    script = ("import json, sys; from prov_common.cli import main; code = main(sys.argv[1:]); "
              f"print(json.dumps([code, [m for m in {UNNEEDED!r} if m in sys.modules]]), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, check=True)
    code, modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert code == 0, proc.stderr
    return modules


@pytest.mark.parametrize("name, text", [
    ("train.jsonl", '{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n'),
    ("notes.txt", "not a table\n"),
], ids=["json-lines", "bytes"])
def test_hashing_json_lines_or_bytes_loads_no_pandas(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert loaded("hash", str(path)) == []


def test_verify_and_runs_load_no_openlineage_client_nor_rdflib(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    record_runs(store, 2)
    assert loaded("verify", "--store", store) == []
    assert loaded("runs", "--store", store) == []
