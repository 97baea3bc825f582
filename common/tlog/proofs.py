"""Proof documents: self-contained JSON that a verifier checks offline (see docs/verification.md)."""
from __future__ import annotations

import base64
from typing import Any

from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.canonical_json import loads
from prov_common.tlog.log import StoredCheckpoint, TransparencyLog, checkpoint_key

PROOF_FORMAT = "https://tdprov.dev/log-proof/v1"


def _checkpoint_doc(tlog: TransparencyLog, sc: StoredCheckpoint) -> dict[str, Any]:
    """The checkpoint as stored (its DSSE envelope), with its key and digest."""
    return {"key": sc.key, "digest": sc.digest, "signer": sc.signer, "envelope": loads(tlog.store.get(sc.key, SMALL_OBJECT_LIMIT))}


def inclusion_document(tlog: TransparencyLog, run_id: str) -> dict[str, Any]:
    """Inclusion proof of ``run_id``'s bundle (or of the one logged run whose id it begins) against the newest
    checkpoint, verified before it is returned."""
    head = tlog.head()
    proof = tlog.inclusion_proof(run_id, head)
    proof.verify()
    assert head is not None
    return {
        "format": PROOF_FORMAT,
        "type": "inclusion",
        "runId": proof.leaf.run_id,
        "leaf": base64.b64encode(proof.leaf.to_bytes()).decode("ascii"),
        "leafIndex": proof.index,
        "treeSize": proof.size,
        "rootHash": proof.root,
        "inclusionPath": list(proof.path),
        "checkpoint": _checkpoint_doc(tlog, head),
    }


def consistency_document(tlog: TransparencyLog, old_size: int, new_size: int) -> dict[str, Any]:
    """Consistency proof between two checkpoints, verified before it is returned."""
    proof = tlog.consistency_proof(old_size, new_size)
    proof.verify()
    old, new = (tlog.read_checkpoint(k) for k in (checkpoint_key(old_size), checkpoint_key(new_size)))
    return {
        "format": PROOF_FORMAT,
        "type": "consistency",
        "oldSize": old_size,
        "newSize": new_size,
        "oldRootHash": proof.old_root,
        "newRootHash": proof.new_root,
        "consistencyPath": list(proof.path),
        "oldCheckpoint": _checkpoint_doc(tlog, old),
        "newCheckpoint": _checkpoint_doc(tlog, new),
    }

