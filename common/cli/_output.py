"""What a verb prints: bytes, an indented JSON document, or JSON lines, to stdout or to a file."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prov_common.errors import cut_message
from prov_common.text import visible


def write_output(data: bytes, output: str | None = None) -> None:
    """Bytes to the file ``output``, or to stdout when ``output`` is None or ``-``."""
    if output in (None, "-"):
        sys.stdout.flush()  # text printed before stays before
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        from prov_common.cli._common import check_writable_file

        path = check_writable_file(output)
        with output_file(path):
            Path(path).write_bytes(data)


@contextlib.contextmanager
def output_file(path: str | os.PathLike[str]) -> Iterator[None]:
    """While inside, writing the file ``path``: an ``OSError`` that names no file (a write that fails: disk full,
    file too large) is raised naming ``path``, not taken for stdout; a file that this write created is removed
    again, a file that was there before is left."""
    existed = os.path.lexists(path)
    try:
        yield
    except OSError as exc:
        if not existed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc
        raise


def emit_json(doc: Any, output: str | None = None, *, sort_keys: bool = False) -> None:
    """One indented JSON document (keys in their given order unless ``sort_keys``), ending with a newline."""
    write_output(json_bytes(doc, sort_keys=sort_keys), output)


def json_bytes(doc: Any, *, sort_keys: bool = False) -> bytes:
    """The bytes :func:`emit_json` writes for ``doc``."""
    return (json.dumps(doc, indent=2, sort_keys=sort_keys) + "\n").encode("utf-8")


def emit_json_line(doc: Any, *, sort_keys: bool = False) -> None:
    """One compact JSON document on a line of its own on stdout: verbs that print one result per item."""
    sys.stdout.write(json.dumps(doc, sort_keys=sort_keys) + "\n")


def tell_written(output: str | None, what: str) -> None:
    """Say on stderr that a verb wrote ``what`` to the file ``output`` (``wrote FILE: what``); nothing when it went to
    stdout (``output`` None or ``-``)."""
    if output not in (None, "-"):
        print(f"wrote {output}: {what}", file=sys.stderr)


def tell(verb: str, message: str) -> None:
    """Print ``tdprov VERB: message`` on stderr as one line, as a refusal is printed (:func:`said`). For every line a
    verb says on stderr: refusals, warnings, runs left out, entries set aside."""
    print(said(f"tdprov {verb}: {message}"), file=sys.stderr)


def said(line: str) -> str:
    """``line`` as a verb prints it on stderr: its whitespace (newlines too) one space, a long value cut naming its size
    (:func:`~prov_common.errors.cut_message`), control, bidi and zero-width characters escaped."""
    return visible(cut_message(" ".join(line.split())))


class _SaidHandler(logging.Handler):
    """Python's last-resort handler (a warning on stderr when no handler takes it), printing :func:`said` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(said(record.getMessage()), file=sys.stderr)
        except Exception:  # noqa: BLE001 - as logging's own handlers do
            self.handleError(record)


@contextlib.contextmanager
def said_logs() -> Iterator[None]:
    """While inside, a library warning that no logging handler takes (a pipeline configures its own; the command line
    has none) is printed on stderr as :func:`tell` prints a line, not whole: a warning that quoted a 6,000-character
    argument was a line of that length."""
    previous = logging.lastResort
    logging.lastResort = _SaidHandler(logging.WARNING)
    try:
        yield
    finally:
        logging.lastResort = previous


def stderr_note(verb: str) -> Callable[[str], None]:
    """A note callback for library code: :func:`tell` by ``verb``."""
    return lambda message: tell(verb, message)
