"""Shared fixtures: paths to the shared OpenLineage spec tools, isolated tdprov homes and stores."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_tdprov(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own TDPROV_HOME (keys) and no inherited TDPROV_* settings."""
    for name in ("TDPROV_STORE", "TDPROV_SIGNING_KEY", "TDPROV_TRUSTED_KEYS", "TDPROV_SPOOL", "TDPROV_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path_factory.mktemp("tdprov-home")))


@pytest.fixture(scope="session")
def ol_validator():
    """The shared OpenLineage validator module (``validate_event(dict)`` raises on invalid events)."""
    tools = SHARED / "tools"
    assert (tools / "ol_validate.py").exists(), f"shared tools missing at {tools}; CI runs with ../shared beside the repo"
    sys.path.insert(0, str(tools))
    import ol_validate

    return ol_validate
