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


def test_building_the_parser_loads_no_data_libraries() -> None:
    """``tdprov --version`` and ``--help`` stay fast: verbs load pandas, pyarrow and numpy when they run."""
    code = ("import sys, prov_common.cli as cli; cli.build_parser(); "
            "print(','.join(m for m in ('pandas', 'pyarrow', 'numpy', 'pandera') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", f"loaded while building the parser: {proc.stdout.strip()}"


def test_the_help_line_of_store_names_its_verbs() -> None:
    """'tdprov --help' said what 'store' does as init and repair only: 'store seal' was not named."""
    from prov_common.cli import build_parser

    shown = " ".join(build_parser().format_help().split())
    assert ("store create a store, or check and protect its S3 bucket (versioning, Object Lock); repair its index; seal "
            "runs from their staged events") in shown, shown
