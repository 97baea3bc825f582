"""Helpers shared by the CLI verbs: help formatting, common options and their checks."""
from __future__ import annotations

import argparse
import math
import os
import re
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

from prov_common.errors import BadInputError


_COMMENT = re.compile(r"\s{2,}(#.*)$")
_WORD = r"""(?:'[^']*'|"[^"]*"|[^\s'"])+"""  # a shell word: a quoted part is never split
_OPTION = re.compile(rf"-{_WORD}(?: (?!-){_WORD})?|{_WORD}")  # an option with its value stays on one line


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps the description and the examples to the terminal: each line of the text is a paragraph (a line break
    in the text is kept), filled to the width; an example command too long for it goes on over lines ending in
    `` \\`` (a shell line continuation, so it can still be copied whole), an option with its value, its comment on a
    line of its own above it."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(f"{self._fill_line(line, width, indent)}\n" for line in text.splitlines())

    @staticmethod
    def _fill_line(line: str, width: int, indent: str) -> str:
        lead = indent + line[:len(line) - len(line.lstrip())]
        if len(indent + line) <= width or not line.strip():
            return (indent + line).rstrip()
        body = line.strip()
        if not body.startswith("tdprov "):
            return textwrap.fill(body, width, initial_indent=lead, subsequent_indent=lead, break_on_hyphens=False,
                                 break_long_words=False)
        comment = _COMMENT.search(body)
        head = f"{lead}{comment.group(1)}\n" if comment else ""
        command = body[:comment.start()] if comment else body
        lines: list[str] = [lead]
        for word in _OPTION.findall(command):
            if lines[-1].strip() and len(lines[-1]) + 1 + len(word) > width - 2:
                lines.append(lead + "    ")
            lines[-1] += (" " if lines[-1].strip() else "") + word
        return head + " \\\n".join(lines)


def add_verb(subparsers: Any, name: str, *, help: str, description: str, example: str) -> argparse.ArgumentParser:
    """Add a verb whose ``--help`` ends with a worked example."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=HelpFormatter,
    )


STORE_HELP = "store URI: a folder or s3://bucket/prefix (default: $TDPROV_STORE or ./.tdprov)"


def add_store_option(parser: argparse.ArgumentParser, *, must_exist: bool = True, text: str = STORE_HELP) -> None:
    """``--store`` overriding ``TDPROV_STORE`` (``text``: its help, for a verb whose default is another). With ``must_exist``
    (reading verbs) a local store that does not exist is bad input, never created: a mistyped path must not pass as
    an empty store."""
    parser.add_argument("--store", default=None, help=text)
    parser.set_defaults(store_must_exist=must_exist)


def check_store_exists(uri: str | None) -> None:
    """Refuse a local store folder that does not exist (S3 stores are checked by their first request)."""
    from prov_common.config import Settings
    from prov_common.store.location import parse_location

    location = parse_location(uri or Settings.from_env().store)
    if location.is_s3:
        return
    path = Path(location.uri).expanduser()
    if not path.exists():
        raise BadInputError(f"store {path} does not exist.",
                            fix=f"check --store or TDPROV_STORE for a typo, or create it with 'tdprov store init {path}'")
    if not path.is_dir():
        raise BadInputError(f"store {path} is a file, not a folder.", fix="point --store or TDPROV_STORE at the store's folder")


def no_bundles_text(uri: str, *, index_only: bool = False) -> str:
    """What 'runs' and 'verify' say of a store that holds no sealed bundle, and where the runs may be. ``index_only``:
    only the index was listed ('runs'), so a sealed bundle whose index entry is missing may be there."""
    sealed = ("no run is indexed in this store: none is sealed into it yet, or a sealed bundle's index entry is missing "
              "('tdprov store repair --dry-run' lists those)" if index_only else "no run is sealed into this store yet")
    return (f"no bundles in {uri}: {sealed}. A run is sealed when it ends; one its "
            "pipeline spooled while the store could not take it is delivered by 'tdprov flush' on that machine, and "
            "one that stopped before sealing is named by 'tdprov audit'. Check that the pipelines write to this store "
            "(--store, TDPROV_STORE; default ./.tdprov)")


def finite_hours(text: str) -> float:
    """An argparse type: a finite, non-negative number of hours."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours (e.g. 24)") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of hours >= 0 (e.g. 24)")
    if value > MAX_HOURS:  # a longer span is no time span Python can hold (timedelta's bound)
        raise argparse.ArgumentTypeError(f"{text!r} is more hours than a time span can hold (at most {MAX_HOURS:,})")
    return value


MAX_HOURS = timedelta.max.days * 24
"""The most hours a ``timedelta`` holds (about 2.7 million years)."""


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (workers, processes)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1 (e.g. 2)")
    return value


MAX_WORKERS = 256
"""The most worker processes ``--workers`` starts, on a machine of fewer CPUs (the default, one per CPU, is the bound on
one of more): each is a Python process of its own (tens of MB), so a number past this is a typo or a unit slip."""


def worker_count(text: str) -> int:
    """An argparse type: worker processes, a whole number from 1 to :data:`MAX_WORKERS` or this machine's CPUs,
    whichever is more."""
    from prov_common.config import usable_cpus

    value, cpus = positive_int(text), usable_cpus()
    most = max(MAX_WORKERS, cpus)
    if value > most:
        raise argparse.ArgumentTypeError(f"{text!r} worker processes is more than {most}, the most "
                                         f"tdprov starts (this machine has {cpus} CPUs; the default is one per CPU)")
    return value


def check_writable_file(path: str | os.PathLike[str], what: str = "output file") -> str:
    """Refuse a file path that is a folder or whose folder does not exist (folders are never created for it); else the
    path checked, to write: '~/x' given quoted is the home folder's x, not a file in a folder './~'."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise BadInputError(f"{what} {target} is a folder.", fix="give a file name inside it")
    if not target.parent.is_dir():
        raise BadInputError(f"{what} {target}: folder {target.parent} does not exist.",
                            fix="create the folder first or choose a path in an existing one")
    return str(target)


def report_folder(text: str) -> str:
    """An argparse type: a folder for reports, existing or to be made inside an existing folder."""
    target = Path(text).expanduser()
    try:  # argparse turns only ValueError and TypeError into a usage error: an OSError here was a traceback
        exists, parent_is_dir = target.exists(), target.parent.is_dir()
    except OSError as exc:  # a name too long, a folder this user cannot search
        raise argparse.ArgumentTypeError(f"cannot use {text!r} as the folder for report.json and report.html: {exc.strerror or exc}") from exc
    if exists and not target.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder for report.json and report.html")
    if not exists and not parent_is_dir:
        raise argparse.ArgumentTypeError(f"the folder {str(target.parent)!r} of {text!r} does not exist")
    return str(target)  # the folder checked: '~/r' given quoted is written in the home folder, not in a folder './~
