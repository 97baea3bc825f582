"""The ``tdprov`` command line.

Every verb lives in a module of this package that defines ``register(subparsers)``; the module adds
its parser and sets ``func`` (``args -> int`` exit code) with ``parser.set_defaults(func=...)``.
Modules are discovered, so adding a verb touches no other file; a module is named after its verb.
A command that begins with a verb builds that verb's parser alone (its help, options and errors are the same as in the
full parser); ``tdprov --help``, a command without a verb or with a misspelt one builds every verb's, importing every
module: a verb imports pandas, pyarrow and the like inside its ``func``, so that ``tdprov --help`` and ``--version``
stay fast (a test checks that none is loaded).

Each verb reads a store's identity (``_tdprov/store.json``) afresh before it judges a record by it
(:func:`~prov_common.store.identity.read_afresh`), as a new process would: ``main`` may run in a long-running one.

Exit codes: 0 success, 1 a finding (verification failed, digests differ, ...), 2 bad input or usage.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from prov_common import __version__
from prov_common.cli._common import HelpFormatter, check_store_exists
from prov_common.cli._output import said_logs, tell
from prov_common.cli._parser import EXIT_BAD_INPUT, EmptyOptionError, Parser, unrecognized_message, verbs_action
from prov_common.cli._pipe import silence_stdout, stdout_reader_gone
from prov_common.cli._terminal import visible_stdout
from prov_common.errors import TdprovError, with_fix
from prov_common.refusals import as_refusal

EXIT_OK = 0
EXIT_FINDING = 1


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The full parser with every discovered verb, or with ``verb``'s alone (the module of that name's)."""
    parser = Parser(
        prog="tdprov",
        description="Training-data provenance: hash datasets, inspect and verify lineage bundles.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tdprov {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    for name in _verb_modules():
        if verb is not None and name != verb:
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


@functools.cache
def _verb_modules() -> tuple[str, ...]:
    """The names of the modules that may define a verb, sorted (the package is scanned once a process)."""
    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")))


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser that parses ``argv``: its verb's alone when it begins with one (building all of them costs about
    7 ms, mostly argparse's gettext and terminal-size look-ups, on every command), else the full one, whose help and
    errors list every verb."""
    if argv and argv[0] in _verb_modules():
        parser = build_parser(argv[0])
        if (verbs := verbs_action(parser)) is not None and argv[0] in verbs.choices:
            return parser
    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tdprov`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser_for(argv)
    try:
        args, unknown = parser.parse_known_args(argv)
    except EmptyOptionError as exc:  # '--issuer ""': refused by name, never taken for the option left out
        return _fail(exc.verb, exc)
    if unknown:  # said by the verb's parser, whose --help lists its options (the top-level help does not)
        verb_parser = _verb_parser(parser, args)  # exits, naming each argument and the option it was probably meant as
        verb_parser.error(unrecognized_message(verb_parser, unknown))
    func = getattr(args, "func", None)
    if func is None:  # no verb given (every verb sets its func): the full parser, listing them all
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    verb = _verb_parser(parser, args).prog.split(" ", 1)[-1]  # 'store seal', not 'store'
    from prov_common.store.identity import read_afresh

    read_afresh()  # every verb judges records by the store's identity as it is now, not as this process read it before
    try:
        if getattr(args, "store_must_exist", False):
            check_store_exists(getattr(args, "store", None))
        with visible_stdout(), said_logs():
            return int(func(args) or 0)
    except BrokenPipeError as exc:
        if not stdout_reader_gone():  # a broken pipe of something else: a failure like any other
            return _fail(verb, as_refusal(exc))
        silence_stdout()  # output piped into `head` and the like, which has read enough: not an error
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"tdprov {verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback: one line naming the thing and the fix
        return _fail(verb, as_refusal(exc))


def _verb_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub-)verb that ``args`` chose: ``tdprov store init``'s, not ``tdprov``'s."""
    while True:
        chosen = [action.choices[name] for action in parser._actions if isinstance(action, argparse._SubParsersAction)
                  if (name := getattr(args, action.dest, None)) in action.choices]
        if not chosen:
            return parser
        parser = chosen[0]


def _fail(verb: str, exc: TdprovError) -> int:
    """Print ``exc`` as one line and return its exit code."""
    tell(verb, str(exc) if exc.fix else with_fix(str(exc), f"run 'tdprov {verb} --help' for the options and an example."))
    return exc.exit_code


def run() -> None:
    """The ``tdprov`` console command: :func:`main`, then the process ends with its exit code and no
    native thread left running (see :mod:`._exit`)."""
    from prov_common.cli._exit import exit_now

    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    exit_now(code)


if __name__ == "__main__":  # pragma: no cover
    run()
