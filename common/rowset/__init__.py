"""Row sets: the sorted, compact row digests of a dataset version, with a signed Merkle root, so that
"was this record in that version?" is answered by a few KB of range reads and proven to a third party
without the data (docs/content-hash.md, "Row sets"; docs/verification.md, "Row proofs").

Names are loaded on first use, so that a step or task that records no row set loads neither the builder nor the
reader (the bundle and signature checks of ``lookup``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.lazy import lazy_names

_LAZY = {
    "RowProof": "format",
    "RowSet": "capture",
    "SignedRowSet": "lookup",
    "build": "format",
    "has_rows": "capture",
    "prove_record": "lookup",
    "row_set_of": "capture",
    "row_set_path": "capture",
    "signed_row_set": "lookup",
    "without_rows": "capture",
}

if TYPE_CHECKING:  # pragma: no cover
    from prov_common.rowset.capture import RowSet, has_rows, row_set_of, row_set_path, without_rows
    from prov_common.rowset.format import RowProof, build
    from prov_common.rowset.lookup import SignedRowSet, prove_record, signed_row_set

__getattr__ = lazy_names(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
