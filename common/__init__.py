"""tdprov core: everything that does not know an orchestrator.

Hashing, quality, OpenLineage events, W3C PROV, store, bundles, signing, audit and the CLI.
"""
from __future__ import annotations

__version__ = "0.1.0"
PRODUCER = "https://github.com/tdprov/tdprov"

__all__ = ["PRODUCER", "__version__"]
