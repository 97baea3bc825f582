"""Exit codes survive the interpreter's exit: runs of ``tdprov hash --diff`` (worker threads, Arrow and
BLAKE3 native threads) started several at a time all exit 1 with nothing on stderr.
The same loop with 500 runs is ``scripts/exit_codes.py``."""
from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "exit_codes.py"


def _script():
    spec = importlib.util.spec_from_file_location("exit_codes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_four_runs_at_once_of_hash_diff_all_exit_1(tmp_path: Path) -> None:
    """One batch of four at once (the loop's load); the 500-run loop is ``scripts/exit_codes.py``."""
    script = _script()
    a, b = script.make_tables(tmp_path)
    codes, odd = script.run_many(4, 4, a, b)
    assert dict(codes) == {1: 4}, (codes, odd)
    assert odd == []
    same, _ = script.run_many(2, 2, a, a)
    assert dict(same) == {0: 2}  # equal tables: exit 0, so the loop would see a wrong code


def _verbs(parser, path: str = ""):
    """Every verb and sub-verb under ``parser``: (its words, its parser)."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}".strip(), sub
                yield from _verbs(sub, f"{path} {name}")


def test_every_verb_and_sub_verb_has_a_description_and_an_example() -> None:
    """The README promises '--help with an example' for every verb; 'source add', 'source list', 'store init' and
    'store repair' had neither description nor example."""
    from prov_common.cli import build_parser

    lacking = [name for name, sub in _verbs(build_parser()) if not sub.description or "example:" not in (sub.epilog or "")]
    assert lacking == [], lacking


def test_no_help_text_counts_in_brackets() -> None:
    """'tdprov store seal --help' said "the run(s) to seal": help text says one or many in words."""
    from prov_common.cli import build_parser

    marked = [name for name, sub in _verbs(build_parser()) if "(s)" in sub.format_help()]
    assert marked == [], marked
    seal = dict(_verbs(build_parser()))["store seal"].format_help()
    assert "one or more runs to seal, each as the audit names it" in " ".join(seal.split()), seal


def test_every_help_fits_80_columns_and_its_examples_still_read_whole(monkeypatch) -> None:
    """'tdprov snapshot --help' printed a description line of 173 characters, 'audit' one of 554 and an example of 124:
    every help text is wrapped to the terminal, an example command over lines ending in a shell continuation that
    gives back the command as written."""
    import re
    import shlex

    from prov_common.cli import build_parser

    monkeypatch.setenv("COLUMNS", "80")
    root = build_parser()
    helps = {"": root.format_help(), **{name: sub.format_help() for name, sub in _verbs(root)}}
    wide = {name: line for name, text in helps.items() for line in text.splitlines() if len(line) > 80}
    assert wide == {}, wide
    assert "restores the folder. Prints one JSON line per PATH with the digest. With" in " ".join(helps["snapshot"].split())
    examples = {name: text.split("\nexample:\n", 1)[1] for name, text in helps.items() if name}
    assert "tdprov audit --store s3://ml-prov/prod --rehash --report ./audit-report \\\n      --witness " in examples["audit"]
    for name, sub in _verbs(root):
        written = [shlex.split(line, comments=True) for line in sub.epilog.splitlines()[1:]]
        shown = [shlex.split(line, comments=True) for line in re.sub(r" \\\n", " ", examples[name]).splitlines()]
        assert [w for w in shown if w] == [w for w in written if w], name
