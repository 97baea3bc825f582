"""The parser of ``tdprov`` and its verbs: usage errors say how to get help, and an option a verb does not take
is reported first, with the option it was probably meant as (never the required option it misspelt as missing)."""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from typing import Any

EXIT_BAD_INPUT = 2
_NUMBER = re.compile(r"-\d+\Z|-\d*\.\d+\Z")  # a negative number is a value, not an option


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors say how to get help and name unknown options before anything else."""

    _given: list[str] = []  # the arguments of this parser's last parse (its verb's, for a verb's parser)

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        unknown = unknown_options(self, self._given)
        if unknown:  # 'required: --name' for '--nme': the option typed is what is wrong
            message = unrecognized_message(self, unknown)
        message = " ".join(message.split())
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}. Fix: run '{self.prog} --help' for the options and an example.\n")


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return [option for action in parser._actions for option in action.option_strings]


def _is_known(parser: argparse.ArgumentParser, arg: str, options: list[str]) -> bool:
    """Whether ``parser`` takes the option ``arg`` (``--opt=value``, an abbreviation of one, ``-ovalue``)."""
    name = arg.split("=", 1)[0]
    if name in options:
        return True
    if name.startswith("--"):
        return parser.allow_abbrev and any(option.startswith(name) for option in options if option.startswith("--"))
    return name[:2] in options  # a short option with its value attached


def unknown_options(parser: argparse.ArgumentParser, args: Sequence[str]) -> list[str]:
    """The arguments in ``args`` that look like options ``parser`` does not take; the scan stops at ``--`` and at a
    sub-verb (whose parser reads the rest)."""
    options = _option_strings(parser)
    verbs = {name for action in parser._actions if isinstance(action, argparse._SubParsersAction) for name in action.choices}
    unknown = []
    for arg in args:
        if arg == "--" or arg in verbs:
            break
        if arg.startswith("-") and len(arg) > 1 and not _NUMBER.match(arg) \
                and not _is_known(parser, arg, options):
            unknown.append(arg)
    return unknown


def unrecognized_message(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> str:
    """``unrecognized arguments: ...``, each option followed by the one of ``parser`` it was probably meant as."""
    options = _option_strings(parser)
    said = []
    for arg in unknown:
        close = difflib.get_close_matches(arg.split("=", 1)[0], options, n=1) if arg.startswith("-") else []
        said.append(f"{arg} (did you mean {close[0]}?)" if close else arg)
    return f"unrecognized arguments: {' '.join(said)}"
