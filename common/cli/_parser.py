"""The parser of ``tdprov`` and its verbs: usage errors say how to get help, an option a verb does not take is
reported first, with the option it was probably meant as (never the required option it misspelt as missing), a
misspelt verb is named, with the verb it was probably meant as (never the options that follow it), and an option or a
positional argument given an empty or blank value is refused by name (:class:`EmptyOptionError`), never taken for the
argument left out."""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from typing import Any

from prov_common.errors import BadInputError
from prov_common.text import cut_long_values

EXIT_BAD_INPUT = 2
_NUMBER = re.compile(r"-\d+\Z|-\d*\.\d+\Z")  # a negative number is a value, not an option
_DEFAULT = re.compile(r"\bdefault:? ([^;()]+)")  # '(default: $TDPROV_STORE or ./.tdprov)', '(default 24)' in a help
_VARIABLE = re.compile(r"\bTDPROV_[A-Z_]+")  # '(repeatable; overrides TDPROV_TRUSTED_KEYS)'


class EmptyOptionError(BadInputError):
    """An option or a positional argument given an empty or blank value (``--issuer ''``, ``tdprov show ''``): the
    settings take an empty value for one not given, so it would be silently replaced by ``TDPROV_*`` or the default,
    and an empty path, run id or store is no such thing. ``verb``: the verb whose argument it is."""

    def __init__(self, verb: str, what: str, fix: str) -> None:
        super().__init__(what, fix=fix)
        self.verb = verb


def explain_empty(action: argparse.Action, *, what: str, give: str, left_out: str) -> None:
    """Say, for the option or optional positional argument of ``action`` given empty, that it is no ``what``
    (``licence``), to pass ``give`` (``the licence (an SPDX id ...)``), or to leave it out ``left_out`` (``to take it
    from ...``): for an argument whose words the parser cannot take from its help."""
    action.empty_value = (what, give, left_out)  # type: ignore[attr-defined]


def _may_be_left_out(action: argparse.Action) -> bool:
    """Whether the argument of ``action`` may be left out: an option not required, a positional of nargs '?' or '*'
    (argparse marks a '*' positional required, although it takes none)."""
    if action.option_strings:
        return not action.required
    return action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)


def empty_option_error(verb: str, action: argparse.Action, value: str) -> EmptyOptionError:
    """The refusal of the argument of ``action`` (of ``verb``; an option named by its long form, a positional argument
    by its name in the usage, ``RUN_ID``) given the empty or blank ``value``: what to pass and, for an argument that may
    be left out, what leaving it out gives (the default or ``TDPROV_*`` its help names)."""
    option = max(action.option_strings, key=len) if action.option_strings else argparse._get_action_name(action)
    said = "blank" if value else "empty"
    explained = getattr(action, "empty_value", None)
    if explained is not None:
        what, give, left_out = explained
        return EmptyOptionError(verb, f"{option} is given {said}, which is no {what}",
                                f"pass {give}, or leave {option} out {left_out}")
    shown = action.metavar if action.option_strings else None  # a positional is named by its metavar already
    give = f"a value ({shown})" if isinstance(shown, str) else "a value"
    if not _may_be_left_out(action):
        return EmptyOptionError(verb, f"{option} is given {said}", f"pass {give}")
    default, variable = _DEFAULT.search(action.help or ""), _VARIABLE.search(action.help or "")
    left_out = (f" for the default ({default.group(1).strip()})" if default
                else f" to use {variable.group(0)}" if variable else "")
    return EmptyOptionError(verb, f"{option} is given {said}", f"pass {give}, or leave {option} out{left_out}")


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors say how to get help and name unknown options before anything else."""

    _given: list[str] = []  # the arguments of this parser's last parse (its verb's, for a verb's parser)

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        """Refuse an empty or blank value of an option or a positional argument (after an option the verb does not
        take, named first); the verb chosen (the verbs' action) is not judged here: its parser judges its arguments."""
        judged = not isinstance(action, argparse._SubParsersAction)
        blank = next((text for text in arg_strings if not text.strip()), None) if judged else None
        if blank is not None:
            if scan(self, self._given)[0]:
                self.error("")  # names the unknown options
            raise empty_option_error(self.prog.split(" ", 1)[-1], action, blank)
        return super()._get_values(action, arg_strings)

    def error(self, message: str) -> None:  # type: ignore[override]
        unknown, verb = scan(self, self._given)
        if unknown:  # 'required: --name' for '--nme': the option typed is what is wrong
            message = unrecognized_message(self, unknown)
        elif verb is not None and (verbs := verbs_action(self)) is not None and verb not in verbs.choices:
            message = invalid_verb_message(verbs, verb)  # the options after a misspelt verb are its, not wrong
        message = cut_long_values(" ".join(message.split()))
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


def verbs_action(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    """The action holding the verbs of ``parser``, if it has verbs."""
    return next((action for action in parser._actions if isinstance(action, argparse._SubParsersAction)), None)


def _is_value(arg: str) -> bool:
    """Whether argparse takes ``arg`` as a value wherever it stands: a word not beginning with '-', '-' alone, a
    negative number, or a word holding a space (``--reason "-- see ticket 5"``)."""
    return not arg.startswith("-") or len(arg) == 1 or bool(_NUMBER.match(arg)) or " " in arg


def _takes_next(parser: argparse.ArgumentParser, arg: str) -> bool:
    """Whether the known option ``arg`` reads its value from the next argument (``--store S``, not ``--store=S``)."""
    action = parser._option_string_actions.get(arg)
    return action is not None and action.nargs is None


def scan(parser: argparse.ArgumentParser, args: Sequence[str]) -> tuple[list[str], str | None]:
    """The options in ``args`` that ``parser`` does not take, as argparse leaves them unrecognised, and, for a parser
    with sub-verbs, the word in the verb's place (valid or not), where the scan stops: the verb's parser reads the rest.
    The scan also stops at ``--``."""
    options = _option_strings(parser)
    has_verbs = verbs_action(parser) is not None
    unknown: list[str] = []
    value_next = False
    for arg in args:
        if arg == "--":
            break
        if _is_value(arg):
            if has_verbs and not value_next:
                return unknown, arg
            value_next = False
            continue
        value_next = _takes_next(parser, arg)
        if not _is_known(parser, arg, options):
            unknown.append(arg)
    return unknown, None


def invalid_verb_message(verbs: argparse._SubParsersAction, verb: str) -> str:
    """``invalid choice: 'audti' (did you mean 'audit'?); choose from ...``, the verbs of ``verbs``."""
    close = difflib.get_close_matches(verb, list(verbs.choices), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    name = verbs.metavar or verbs.dest
    return f"argument {name}: invalid choice: {verb!r}{hint}; choose from {', '.join(map(repr, verbs.choices))}"


def unrecognized_message(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> str:
    """``unrecognized arguments: ...``, each option followed by the one of ``parser`` it was probably meant as."""
    options = _option_strings(parser)
    said = []
    for arg in unknown:
        close = difflib.get_close_matches(arg.split("=", 1)[0], options, n=1) if arg.startswith("-") else []
        said.append(f"{arg} (did you mean {close[0]}?)" if close else arg)
    return f"unrecognized arguments: {' '.join(said)}"
