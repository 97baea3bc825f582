"""The CLI shell: help, version and usage errors exit as documented."""
from __future__ import annotations

import subprocess
import sys

from prov_common.cli import EXIT_BAD_INPUT, main


def test_no_verb_is_a_usage_error(capsys) -> None:
    assert main([]) == EXIT_BAD_INPUT
    assert "VERB" in capsys.readouterr().err


def test_unknown_verb_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "prov_common", "no-such-verb"], capture_output=True, text=True)
    assert proc.returncode == EXIT_BAD_INPUT
    assert "--help" in proc.stderr


def test_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "prov_common", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.startswith("tdprov ")
