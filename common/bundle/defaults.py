"""The configuration defaults of a process's ``ProvenanceTransport``s: what an orchestrator integration that keeps
tdprov's settings in its own configuration (the Airflow plugin) gives the transports an OpenLineage producer makes.

Kept apart from :mod:`prov_common.bundle.transport` so that setting them at start-up loads neither the OpenLineage
client nor the bundle builder: every process that loads the Airflow plugin sets them, few of them make a transport.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prov_common.config import Settings
    from prov_common.errors import TdprovError
    from prov_common.store.s3 import S3ClientFactory

log = logging.getLogger(__name__)

EventPreparer = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class ConfigurationDefaults:
    """What a transport made from an OpenLineage configuration uses for the options that configuration leaves
    unset: ``settings``, and ``s3_client_factory`` for an ``s3://`` store that is ``settings.store``.

    ``prepare_event``: how the orchestrator integration reads the events of its producer as they enter tdprov
    (redacted, before they are checked and staged); the Airflow plugin moves the outputs that the OpenLineage
    provider's events only declare into the ``tdprov_outlets`` run facet."""

    settings: Settings
    s3_client_factory: S3ClientFactory | None = None
    prepare_event: EventPreparer | None = None
    store_source: str = "TDPROV_STORE"  # where ``settings.store`` was set, named in the fix when it cannot be opened
    signing_key_source: str | None = None  # where ``settings.signing_key`` was set (None: TDPROV_SIGNING_KEY)
    refused: TdprovError | None = None  # why ``settings.store`` must not be opened (``ProvenanceConfig.refused``)


DefaultsSource = Callable[[], ConfigurationDefaults]
_defaults_source: DefaultsSource | None = None


def set_configuration_defaults(source: DefaultsSource | None) -> None:
    """Let ``source`` give the settings of every ``ProvenanceTransport`` that an OpenLineage producer of this
    process makes from its configuration (``transport: {type: ...ProvenanceTransport}``), in place of the
    ``TDPROV_*`` environment, for the options that configuration leaves unset.

    An orchestrator integration sets it where it keeps tdprov's settings in its own configuration (the Airflow
    plugin: ``[tdprov]`` and its connection), so that the producer's bundles go where its own do. ``None``:
    back to ``TDPROV_*``.
    """
    global _defaults_source
    _defaults_source = source


def configuration_defaults() -> ConfigurationDefaults | None:
    """The defaults of :func:`set_configuration_defaults`; None (``TDPROV_*``) when unset or when they fail."""
    if _defaults_source is None:
        return None
    try:
        return _defaults_source()
    except Exception as exc:  # noqa: BLE001 - never break the producer: fall back to TDPROV_*
        log.warning("tdprov: could not read the settings of this process's orchestrator (%s: %s); this transport "
                    "uses TDPROV_*. Fix: correct the setting or connection the message names", type(exc).__name__, exc)
        return None
