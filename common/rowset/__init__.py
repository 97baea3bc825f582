"""Row sets: the sorted, compact row digests of a dataset version, with a signed Merkle root, so that
"was this record in that version?" is answered by a few KB of range reads and proven to a third party
without the data (docs/content-hash.md, "Row sets"; docs/verification.md, "Row proofs")."""
from __future__ import annotations

from prov_common.rowset.capture import RowSet, has_rows, row_set_of, row_set_path, without_rows
from prov_common.rowset.format import RowProof, build
from prov_common.rowset.lookup import SignedRowSet, prove_record, signed_row_set

__all__ = ["RowProof", "RowSet", "SignedRowSet", "build", "has_rows", "prove_record", "row_set_of", "row_set_path", "signed_row_set",
           "without_rows"]
