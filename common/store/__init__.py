"""Write-once object stores: local folder and S3, the outbox that spools when a store is down,
and content-addressed data snapshots."""
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, SpoolError
from prov_common.store.factory import open_store
from prov_common.store.keys import join_key, validate_key
from prov_common.store.outbox import DeliveryResult, FlushReport, Outbox, default_spool_dir

__all__ = [
    "Store", "open_store", "ObjectNotFoundError", "SpoolError", "validate_key", "join_key",
    "Outbox", "DeliveryResult", "FlushReport", "default_spool_dir",
]
