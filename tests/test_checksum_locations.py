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
