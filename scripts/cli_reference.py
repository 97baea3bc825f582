"""Write docs/cli.md, the reference of every ``tdprov`` verb, from the command's own parser.

    python scripts/cli_reference.py           # write docs/cli.md
    python scripts/cli_reference.py --check   # exit 1 when docs/cli.md is not what the parser makes

Each verb's usage line and options are argparse's (at a fixed width, so the page does not depend on the terminal);
its description and example are the ones its ``--help`` prints; where its ``--json`` fields are documented is
:data:`JSON_FIELDS`. tests/test_cli_reference.py fails when docs/cli.md is out of date.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
COMMAND = "python scripts/cli_reference.py"
WIDTH = 100  # of the usage lines

JSON_FIELDS = {
    "audit": "audit.md#auditing-training-data-provenance",
    "contains": "verification.md#row-proofs",
    "hash": "content-hash.md#9-cli",
    "lineage": "prov-mapping.md#the-whole-store-tdprov-export-and-tdprov-lineage",
    "runs": "walkthrough.md#2-the-runs",
    "show": "../README.md#two-minute-tour",
    "source list": "audit.md#sources-and-training-data-records",
    "store init": "store-layout.md#store-identity",
    "store repair": "store-layout.md#repairing-the-index",
    "verify": "bundles.md#verifying",
}
"""Where the fields of each verb's ``--json`` output are documented (a link from docs/)."""

EXIT_CODES = """\
## Exit codes

| code | meaning |
|---|---|
| 0 | success |
| 1 | a finding: a bundle that does not verify, digests that differ, a record not contained, audit findings |
| 2 | bad input or usage: one line on stderr naming the thing and the fix (`TDPROV_DEBUG=1` adds the traceback) |
| 130 | interrupted (Ctrl-C) |

A verb whose codes say more (`contains`, `verify`, `runs --verified`, ...) says so in its description below. The
process ends with its verb's code even while native worker threads are busy: `python scripts/exit_codes.py` runs
`tdprov hash --diff` many times at once and counts the codes ([reliability](reliability.md#exit-codes-at-interpreter-exit)).
Output piped into a reader that stops early (`tdprov lineage DATASET | head`) ends the verb there, exit 0, with nothing
on stderr; a broken pipe of anything else (a FIFO given as `-o`, a connection) is a failure like any other (exit 2).
"""

JSON_NAMES = """\
## Names in JSON

Every `--json` output, report.json and the Airflow page's JSON name their fields in camelCase, one name for each thing
(`runId`, `storeId`, `registeredAt`). A signed record they show (a source record, the findings an acceptance or a
resolution of the log recorded) keeps its own field names in the store (`store_id`, `registered_at`, `run_id`: they
are part of what was signed), and is shown with the common ones. Keys that are not tdprov's names are as written:
terms and ids of PROV-JSON and JSON-LD (`prov:type`, `@id`, `tdprov:run-...`, a literal's `$`), the names under
PROV-JSON's `prefix`, the data's column names (`columns` and `columnTypes` of `hash --json`) and the names under a
source's `extra` (its issuer's). The keys of Dagster metadata follow Dagster's (`dagster/row_count`, `findings_list`);
the JSON under them is camelCase too.

A job is given one way in all of them: `{"namespace": ..., "name": ...}`, as OpenLineage events give it (a run's `job`
in `runs`, `show`, `lineage`, `contains`, `audit --json` and report.json, report.json's `trainingJob`, the Airflow
page's bundles), never `namespace/name` text, which is how the text output and the HTML report print it. The
training-data record of `record` and `export --training-record` is a published shape of its own (the D&TA fields and
tdprov's after them, or Croissant: [records.md](records.md)) and names a run's job as `namespace/name` text. tests/test_cli_json.py checks every output of its verbs against this.
"""

_MARKDOWN = re.compile(r"([\\`*_<>|\[\]])")


def _text(text: str) -> str:
    """Plain help text as Markdown that shows it as it is (``*.parquet``, ``DATASET|DIGEST`` in a table)."""
    return _MARKDOWN.sub(r"\\\1", text)


def _verbs(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each verb of ``parser`` and then of its sub-verbs, in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, verb in action.choices.items():
                yield verb.prog.removeprefix("tdprov "), helps.get(name, ""), verb
                yield from _verbs(verb)


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = parser.formatter_class(prog=parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """The table of the arguments and options of ``parser``, as its ``--help`` names and explains them."""
    formatter = parser.formatter_class(prog=parser.prog, width=WIDTH)
    rows = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        shown = formatter._format_action_invocation(action).replace("|", "\\|")  # a '|' ends a table cell, in code too
        explained = formatter._expand_help(action) if action.help else ""
        required = "required; " if action.option_strings and action.required else ""
        rows.append(f"| `{shown}` | {required}{_text(' '.join(explained.split()))} |")
    return ["| argument | meaning |", "|---|---|", *rows] if rows else []


def _section(name: str, summary: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f"## `tdprov {name}`", "", _text(summary[:1].upper() + summary[1:]) + ".", "", "```text", _usage(parser), "```", ""]
    if parser.description:  # each line of it is a paragraph, as --help fills it
        lines += [_text(line.strip()) + "\n" for line in parser.description.splitlines() if line.strip()]
    lines += [*_options(parser), ""] if _options(parser) else []
    if parser.epilog:
        example = parser.epilog.removeprefix("example:\n").strip()
        lines += ["Example:", "", "```bash", *(line.strip() for line in example.splitlines()), "```", ""]
    if name in JSON_FIELDS:
        lines += [f"The fields of `--json`: [{JSON_FIELDS[name].split('#')[0].removeprefix('../')}]({JSON_FIELDS[name]}).", ""]
    return lines


def render() -> str:
    """docs/cli.md as the parser of ``tdprov`` makes it."""
    from prov_common.cli import build_parser

    parser = build_parser()
    verbs = list(_verbs(parser))
    lines = [
        "# Command-line reference",
        "",
        f"<!-- Made by '{COMMAND}' from the parser of 'tdprov': edit the verbs in common/cli/ and run it again. -->",
        "",
        "Every verb of `tdprov`, with its usage and options as `tdprov VERB --help` prints them, and where the fields of "
        "its `--json` output are documented. `tdprov --version` prints the version. An option or a positional argument "
        "given an empty or blank value (`--issuer ''`, `--store=`, `tdprov show ''`) is refused (exit 2), naming it: "
        "leave an option out for its default or `TDPROV_*` setting.",
        "",
        EXIT_CODES,
        JSON_NAMES,
        "## Verbs",
        "",
        *(f"- [`tdprov {name}`](#tdprov-{name.replace(' ', '-')}): {_text(summary)}" for name, summary, _ in verbs),
        "",
    ]
    stale = sorted(set(JSON_FIELDS) - {name for name, _, verb in verbs if "--json" in verb._option_string_actions})
    if stale:  # a verb renamed, removed or without --json: its link would be silently left out
        raise SystemExit(f"JSON_FIELDS in {__file__} names {', '.join(stale)}, which no verb with --json is: remove it")
    for name, summary, verb in verbs:
        if "--json" in verb._option_string_actions and name not in JSON_FIELDS:
            raise SystemExit(f"'tdprov {name}' has --json: add where its fields are documented to JSON_FIELDS in {__file__}")
        lines += _section(name, summary, verb)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is out of date, writing nothing")
    parser.add_argument("--page", type=Path, default=PAGE, help="the page to write or check (default: docs/cli.md)")
    args = parser.parse_args()
    page = render()
    if args.check:
        if args.page.exists() and args.page.read_text(encoding="utf-8") == page:
            return 0
        print(f"{args.page} is out of date: run '{COMMAND}' to make it again from the parser", file=sys.stderr)
        return 1
    args.page.write_text(page, encoding="utf-8")
    print(f"wrote {args.page}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
