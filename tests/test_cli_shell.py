"""The CLI shell: help, version and usage errors exit as documented."""
from __future__ import annotations

import subprocess
import sys

import pytest

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


def test_a_verb_builds_its_own_parser_alone() -> None:
    """Every 'tdprov VERB' built the parsers of all 18 verbs (about 7 ms of argparse's gettext and terminal-size
    look-ups) before it parsed its arguments: it builds, and imports, its verb's alone."""
    code = ("import sys, prov_common.cli as cli; cli.main(['prove', '--help'])")
    loaded = ("import sys, atexit; atexit.register(lambda: print(sorted(m for m in sys.modules "
              "if m.startswith('prov_common.cli.') and not m.rsplit('.', 1)[1].startswith('_')), file=sys.stderr)); ")
    proc = subprocess.run([sys.executable, "-c", loaded + code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "['prov_common.cli.prove']\n", proc.stderr
    assert proc.stdout.startswith("usage: tdprov prove [-h]"), proc.stdout


def test_each_verb_says_what_the_full_parser_says(capsys, monkeypatch) -> None:
    """A verb parsed by its parser alone prints the help of the full parser's, byte for byte, and its usage errors."""
    import argparse

    from prov_common.cli import build_parser

    monkeypatch.setenv("COLUMNS", "80")

    def leaves(parser: argparse.ArgumentParser, words: list[str]) -> list[tuple[list[str], argparse.ArgumentParser]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return [(words, parser)] + [leaf for name, sub in (subs[0].choices.items() if subs else ())
                                    for leaf in leaves(sub, [*words, name])]

    verbs = leaves(build_parser(), [])[1:]
    assert len(verbs) == 23, [words for words, _ in verbs]
    for words, parser in verbs:
        with pytest.raises(SystemExit) as done:  # a help that returned instead of exiting is no verb's --help
            main([*words, "--help"])
        assert done.value.code == 0, words
        assert capsys.readouterr() == (parser.format_help(), ""), words
    with pytest.raises(SystemExit) as done:
        main(["store", "init", "--bogus", "x"])
    assert done.value.code == EXIT_BAD_INPUT
    assert capsys.readouterr().err == ("tdprov store init: error: unrecognized arguments: --bogus. "
                                       "Fix: run 'tdprov store init --help' for the options and an example.\n")
