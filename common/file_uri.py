"""Which ``file://`` URIs name this machine's file system, and how local paths are taken (no I/O; importable from
anywhere)."""
from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import SplitResult, urlsplit

from prov_common.errors import BadInputError

LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1"})
"""Authorities of a ``file://`` URI on this machine: named, read and stored as a local path."""
URI_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):/")
"""A URI scheme and the ``/`` after it at the start of a text (``s3:/``, ``gs://``, ``file:/``, ``dbfs:/``); two
letters at least, so that a Windows drive (``C:/``) stays a path."""
DBFS = "dbfs"
"""The namespace of a Databricks file (``dbfs:/mnt/x.csv``), as the Airflow OpenLineage provider names it."""


def is_file_uri(text: str) -> bool:
    """Whether ``text`` is a ``file:`` URI: ``file://...`` or RFC 8089's short form ``file:/abs/path``. Anything else
    (``file:x.csv``, a relative file of that name) is a path as written."""
    return text[:6].lower() == "file:/"


def is_short_uri(text: str) -> bool:
    """Whether ``text`` is written as a URI without ``//`` that is no local path (:func:`short_uri` names it or
    refuses it): ``scheme:/...`` (two letters at least, ``file:`` aside) or ``dbfs:...``."""
    scheme, colon, _ = text.partition(":")
    return (bool(colon) and "://" not in text and not is_file_uri(text)
            and (URI_SCHEME.match(text) is not None or scheme.lower() == DBFS))


def is_uri(text: str) -> bool:
    """Whether ``text`` is written as a URI, not as a local path: ``scheme://...``, a ``file:/`` URI (RFC 8089's
    short form too) or a URI without ``//`` (:func:`is_short_uri`: ``dbfs:/mnt/x.csv``, or one :func:`short_uri`
    refuses); ``a:b.csv``, ``file:x.csv`` and ``C:/x`` are paths."""
    return "://" in text or is_file_uri(text) or is_short_uri(text)


def short_uri(text: str) -> tuple[str, str] | None:
    """``(scheme, path)`` of a URI written with a scheme and a path but no ``//``, as Databricks writes a file:
    ``dbfs:/mnt/x.csv`` is ``("dbfs", "/mnt/x.csv")`` (the scheme in lower case, the path as written); ``None`` for a
    path (``a:b.csv`` and ``run-10:30.csv`` too: no ``/`` after the colon), RFC 8089's ``file:/p`` and any URI with
    ``//``. Any other scheme followed by ``/`` (``foo:/x``, ``s3:/b/k``), and a DBFS path that is not absolute
    (``dbfs:mnt/x``), is refused, naming the fix: it would otherwise be taken for a file in a folder of the working
    folder named after its scheme, where the writer most likely meant the URI."""
    if not is_short_uri(text):
        return None
    scheme, _, rest = text.partition(":")
    scheme = scheme.lower()
    local = f"a local file of that name as ./{text} or file:///<absolute path>"
    if scheme == DBFS:
        if not rest.startswith("/"):
            raise BadInputError(f"DBFS path {text!r} is not absolute", fix=f"write it as dbfs:/<path> (dbfs:/mnt/...), {local}")
        return scheme, rest
    raise BadInputError(f"{text!r} is a URI of the scheme {scheme!r} without '//', which names no dataset (of such URIs "
                        "tdprov names dbfs:/<path> only)",
                        fix=f"write the URI as {scheme}://<authority>/<path>, {local}")


def split_uri(text: str) -> SplitResult:
    """``urlsplit(text)``, its host and port read; a URI no URL parser reads (an unclosed ``[`` of an IPv6 host, a
    port that is no number) is refused naming it."""
    try:
        parts = urlsplit(text)
        _ = parts.hostname, parts.port
    except ValueError as exc:
        raise BadInputError(f"{text!r} cannot be read as a URI ({exc})",
                            fix="write it as scheme://host[:port]/path; an IPv6 host goes in brackets, [::1]") from None
    return parts


def is_local_host(authority: str) -> bool:
    """Whether a ``file://`` URI's authority (``localhost``, ``127.0.0.1`` or none) names this machine."""
    return authority.lower() in LOCAL_HOSTS


def local_namespace(namespace: str) -> str:
    """``file`` for a namespace that names this machine's file system (``file://localhost``, ``file://127.0.0.1``,
    as the official Airflow OpenLineage provider writes for a ``file://localhost/p`` Asset), else ``namespace``:
    one local file is one dataset whichever producer named it."""
    if not namespace.lower().startswith("file://"):
        return namespace
    try:
        authority = urlsplit(namespace).netloc
    except ValueError:  # an authority no URL parser reads ('file://[::1'): no name of this machine
        return namespace
    return "file" if authority and is_local_host(authority) else namespace


def local_dataset(namespace: str, name: str) -> tuple[str, str]:
    """``(namespace, name)`` of a dataset as tdprov names it: :func:`local_namespace`, and an absolute local path
    normalised as tdprov's naming does (``/data//x`` and ``/data/./x`` are ``/data/x``); anything else as given."""
    namespace = local_namespace(namespace)
    if namespace == "file" and name.startswith("/"):
        return namespace, posixpath.normpath(name)
    return namespace, name


def one_root(path: str) -> str:
    """An absolute ``path`` as normalised by ``os.path.abspath``, its leading ``//`` as ``/``: POSIX leaves exactly two
    leading slashes to the system and Python keeps them, while Linux and macOS open the root there (``//data/x`` is the
    file ``/data/x``, one dataset). Not applied to the names a sealed bundle's events give (:func:`local_dataset`: its
    PROV is re-derived with them)."""
    return path[1:] if path.startswith("//") and not path.startswith("///") else path


def home_hint(path: str, fix: str) -> str:
    """``fix`` for a local path that names no file, led, when the path starts with ``~``, by the reminder that
    tdprov does not expand ``~`` (no shell did: it is a folder of that name to the naming and the hashing alike)."""
    if not path.startswith("~"):
        return fix
    return f"'~' is not expanded: give the absolute path (e.g. {os.path.expanduser(path)!r}); or {fix}"
