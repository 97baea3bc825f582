"""The trust that bundles of a store are read under: the trusted keys, and the retired keys with where the store's
log holds each bundle, so that what a retired key signed counts only where the log fixed it before its cut-off.
Every reader that verifies bundles (``verify``, ``show``, ``lineage``, ``record``, ``contains``...) takes it from here."""
from __future__ import annotations

import logging

from prov_common.config import Settings
from prov_common.errors import StoreUnavailableError, TdprovError
from prov_common.signing import TrustStore, auditor_trust_from_settings, trust_from_settings
from prov_common.store.base import Store
from prov_common.tlog.log import TransparencyLog

log = logging.getLogger(__name__)


def bundle_trust(settings: Settings, store: Store) -> TrustStore:
    """The keys that bundles of ``store`` verify under (:func:`trust_from_settings`). With retired keys
    (``TDPROV_RETIRED_KEYS``), also the log position of every logged bundle, read from the store's log as
    ``tdprov prove`` reads it (the newest checkpoint, signed by an auditor key, and the leaves that hash to it);
    a log that cannot be read is said on stderr, and then no bundle of a retired key counts."""
    trust = trust_from_settings(settings)
    if not trust.retired:
        return trust
    try:
        return trust.logged_at(TransparencyLog(store, auditor_trust_from_settings(settings)).logged_statements())
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        log.warning("tdprov: the log of %s cannot be read (%s): bundles signed by a retired key (TDPROV_RETIRED_KEYS) count only "
                    "where the log holds them, so none does now; %s", store.uri, exc.what, exc.fix or "run 'tdprov audit'")
        return trust
