"""The hook for reports: which required D&TA fields a registered source leaves unknown (no I/O).

The audit's training-data sections list these beside the lineage gaps of each training dataset; a
derived record carries the same sentences in its ``knownGaps`` (see :func:`.dta.dta_gaps`).
"""
from __future__ import annotations

from prov_common.sources.dta import dta_gaps
from prov_common.sources.model import SourceRecord
from prov_common.sources.registry import source_key
from prov_common.store.keys import object_uri


def source_gaps(record: SourceRecord, store_uri: str = "") -> list[str]:
    """One sentence per required D&TA field ``record`` leaves unknown, naming the option that records it.

    The record is in the store, so its metadata location is known: its URI there when ``store_uri``
    is given, else its key.
    """
    key = source_key(record.name, record.digest)
    return dta_gaps(record.dta(object_uri(store_uri, key) if store_uri else key))
