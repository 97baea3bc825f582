"""A CSV header that names a column twice is refused: ``pandas.read_csv`` renames the repeat, so the digest could not
tell the file apart from one whose header says what pandas made of it.

pandas reads ``a,a`` as columns ``a, a.1``: a file whose header says ``a,a`` and one whose header says ``a,a.1`` had
one digest. The header is read again as a row only when a name pandas gave looks like one it made (``<name>.<n>``).
(A blank name, ``Unnamed: 0``, is left alone: every CSV ``DataFrame.to_csv`` writes with its index starts so.)
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

from prov_common.errors import BadInputError
from prov_common.hashing.bytes_fix import OR_HASH_BYTES

_RENAMED = re.compile(r"\.\d+\Z")  # what pandas makes of a repeated name


def check_header_names(header: Iterable[Any], open_source: Callable[[], AbstractContextManager[IO[bytes]]],
                       path_or_uri: str | Path) -> None:
    """Refuse a CSV whose header line names a column more than once (``header``: the names ``pandas.read_csv`` gave)."""
    names = [str(name) for name in header]
    if not any(_RENAMED.search(name) for name in names):
        return
    import pandas as pd  # here: only CSV headers are read by pandas

    with open_source() as source:
        written = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    repeated = sorted({name for name in written if name and written.count(name) > 1})
    if repeated:
        raise BadInputError(
            f"{str(path_or_uri)!r}: its header line names {', '.join(map(repr, repeated))} more than once, which "
            f"pandas.read_csv reads as {', '.join(map(repr, names))}; a file whose header says so would have the same digest.",
            fix=f"give every column a name of its own in the header line, {OR_HASH_BYTES}")
