"""Deliver events to :class:`~prov_common.bundle.transport.ProvenanceTransport` (stages them, seals bundles)."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prov_common.bundle import layout
from prov_common.bundle.defaults import ConfigurationDefaults
from prov_common.config import Settings
from prov_common.errors import TdprovError

if TYPE_CHECKING:  # the transport loads the OpenLineage client and the bundle builder: on a process's first delivery
    from prov_common.bundle.transport import ProvenanceTransport
    from prov_common.store.s3 import S3ClientFactory

log = logging.getLogger(__name__)
_lock = threading.Lock()
# what shapes a transport: its settings, AWS connection and the tdprov connection naming it, where its store and
# signing key are set (named in its fixes) and why its store must not be opened
_Shape = tuple[Settings, str | None, str | None, str, str, tuple[str, str | None] | None]
_transports: dict[_Shape, ProvenanceTransport] = {}


def transport_for(settings: Settings, aws_conn_id: str | None, store_source: str,
                  refused: TdprovError | None = None, conn_id: str | None = None,
                  key_source: str | None = None) -> ProvenanceTransport:
    """One transport per process and what shapes it: its settings, AWS connection, tdprov connection, where its store
    and key are set and why its store is refused (it opens the store and key on first use).

    With ``aws_conn_id``, an ``s3://`` store is reached through that connection's ``AwsBaseHook``
    session; the connection is read here, on the calling thread. ``store_source``: where ``settings.store`` is
    set, named when it cannot be opened. ``refused``: why the store must not be opened (the listener's connection
    cannot be read): the transport keeps every object in the outbox of ``settings.spool``. ``conn_id``: the tdprov
    connection whose ``aws_conn_id`` it is, named when that AWS connection cannot be used. ``key_source``: where
    ``settings.signing_key`` is set, named when the key cannot be read (None: ``TDPROV_SIGNING_KEY``).
    """
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.signing.keyfiles import KEY_VARIABLE

    key_source = key_source or KEY_VARIABLE
    shape: _Shape = (settings, aws_conn_id, conn_id, store_source, key_source,
                     None if refused is None else (refused.what, refused.fix))
    with _lock:
        transport = _transports.get(shape)
        if transport is None:
            transport = ProvenanceTransport(ProvenanceConfig(
                store=settings.store, signing_key=settings.signing_key, spool=settings.spool, strict=settings.strict,
                store_source=store_source, signing_key_source=key_source,
                refused=refused),
                s3_client_factory=_s3_client_factory(aws_conn_id, conn_id))
            _transports[shape] = transport
        return transport


def _made() -> list[ProvenanceTransport]:
    """The transports this process made so far."""
    with _lock:
        return list(_transports.values())


def end_transports(waited: float) -> list[tuple[str, str]]:
    """Have each transport of this process write to its outbox from now on, the process ending after ``waited``
    seconds of delivery (:meth:`ProvenanceTransport.end`); each one's store URI and spool folder."""
    return [(transport.end(waited), str(transport.outbox.spool_dir)) for transport in _made()]


def name_late_events(timeout: float) -> None:
    """Have each transport of this process name what it staged for a run it took for open that another process sealed
    since (:meth:`ProvenanceTransport.name_late_events`: no store request when every run it started ended here), within
    ``timeout`` seconds in all (a check that outlives it goes on in the background, waited for by the settle after).
    Never raises: a strict operator's transport raises when its check outlives the bound, which skipped the settle
    after it (its writes were lost with the task process's ``os._exit``) and the other transports' checks."""
    deadline = time.monotonic() + timeout
    for transport in _made():
        try:
            transport.name_late_events(deadline - time.monotonic())
        except Exception as exc:  # noqa: BLE001 - strict: the check goes on in the background; the settle names it if left
            log.warning("%s", exc if isinstance(exc, TdprovError) else
                        f"tdprov: could not check the runs this process took for open ({type(exc).__name__}: {exc})")


def _s3_client_factory(aws_conn_id: str | None, named_by: str | None = None) -> S3ClientFactory | None:
    """The S3 clients of the AWS connection ``aws_conn_id`` (read now; ``named_by``: the tdprov connection naming it),
    or None: the AWS environment."""
    if not aws_conn_id:
        return None
    from prov_airflow.hooks.provenance import aws_s3_client_factory

    return aws_s3_client_factory(aws_conn_id, named_by)


def _listener_hook() -> Any:
    """The ``ProvenanceHook`` of the ``[tdprov] conn_id`` connection, or None when it is not set."""
    from prov_airflow.settings import conf_get

    conn_id = conf_get("conn_id")
    if not conn_id:
        return None
    from prov_airflow.hooks.provenance import ProvenanceHook

    return ProvenanceHook(conn_id, named_by="[tdprov] conn_id", strict=False)


class _Listening:
    """What the listener delivers with: its settings, the AWS connection of its store, where the store and the signing
    key are set and, when the ``[tdprov] conn_id`` connection cannot be read (not defined, an extra refused), why
    (``refused``): the ``[tdprov]`` settings then give the spool and the options, and every event is kept in the outbox
    for ``tdprov flush --store`` (the store the connection should have named is not known; writing to ``[tdprov]``'s
    would record the run in another store)."""

    def __init__(self) -> None:
        from prov_airflow.settings import resolve_settings, setting_source, store_source

        hook = _listener_hook()
        self.refused: TdprovError | None = None
        self.conn_id: str | None = None if hook is None else hook.tdprov_conn_id
        if hook is not None:
            try:
                self.settings = hook.get_settings()
                self.aws_conn_id, self.store_source = hook.aws_conn_id, hook.store_source()
                self.key_source = hook.option_source("signing_key")
                return
            except TdprovError as exc:
                self.refused = exc
        self.settings, self.aws_conn_id = resolve_settings(strict=False), None
        self.store_source = "[tdprov] conn_id" if self.refused is not None else store_source()
        self.key_source = setting_source("signing_key")

    def unusable_aws(self, exc: TdprovError) -> None:
        """The connection's AWS connection cannot be used (``exc``): its store is not opened, its events are kept in
        the outbox of its spool."""
        self.refused, self.aws_conn_id = exc, None


def listener_settings() -> Settings:
    """Settings of the listener: the ``[tdprov] conn_id`` connection if set, else ``[tdprov]``/``TDPROV_*``; the
    connection's error when it cannot be read (where the listener's bundles go is then not known).

    The listener never runs strict: strict mode fails tasks from operators only.
    """
    given = _Listening()
    if given.refused is not None:
        raise given.refused
    return given.settings


def listener_snapshot() -> bool:
    """Whether the listener keeps a snapshot of every outlet recorded (``[tdprov]``'s setting when the connection
    cannot be read: the events are kept in the outbox all the same)."""
    return bool(_Listening().settings.snapshot)


def listener_spool() -> Path | None:
    """The spool folder of the listener's transport (:func:`~prov_common.scratch.spool_folder`; ``[tdprov]``'s when the
    connection cannot be read); None where its settings cannot be read, and then the environment's is used."""
    from prov_common.scratch import spool_folder

    try:
        return spool_folder(_Listening().settings)
    except TdprovError:
        return None


def listener_transport() -> ProvenanceTransport:
    """The listener's transport: its settings, and the AWS connection of its tdprov connection (read once)."""
    given = _Listening()
    try:
        return transport_for(given.settings, given.aws_conn_id, given.store_source, given.refused, given.conn_id,
                             given.key_source)
    except TdprovError as exc:
        if not given.aws_conn_id:
            raise
        given.unusable_aws(exc)
        return transport_for(given.settings, None, given.store_source, given.refused, key_source=given.key_source)


def configuration_defaults() -> ConfigurationDefaults:
    """The listener's settings and store client, for the ``ProvenanceTransport`` that the OpenLineage provider
    makes from ``[openlineage] transport``: its bundles go where the listener's events go, and the outputs the
    provider's events only declare are not recorded as written (:func:`~prov_airflow.unwritten.provider_event`)."""
    from prov_airflow.unwritten import provider_event

    given = _Listening()
    try:
        factory = _s3_client_factory(given.aws_conn_id, given.conn_id)
    except TdprovError as exc:
        factory = None
        given.unusable_aws(exc)
    return ConfigurationDefaults(given.settings, factory, prepare_event=provider_event, store_source=given.store_source,
                                 signing_key_source=given.key_source, refused=given.refused)


def run_is_open(transport: ProvenanceTransport, run_id: str) -> bool:
    """Whether ``run_id`` has staged events and no bundle in the transport's store (True when the store cannot
    be read, or its setting cannot be opened: the event is then delivered, spooled or kept in the outbox, as any
    other, as :func:`run_is_sealed` takes it)."""
    if run_is_sealed(transport, run_id):
        return False
    try:
        return any(True for _ in transport.store.list(layout.staging_prefix(run_id)))
    except TdprovError:
        return True


def run_is_sealed(transport: ProvenanceTransport, run_id: str, dag_run: tuple[str, str] | None = None) -> bool:
    """Whether ``run_id`` has a sealed bundle in the transport's store (False when the store cannot be read, or its
    setting cannot be opened: the event then goes where the transport puts it, which warns once). With ``dag_run``
    (the DAG id and Airflow run id of the event to come), a bundle whose events name another DAG run of that DAG (two
    DAG runs at one logical date, given one run id) is another run's, so False: the event then goes where the
    transport puts another run's, kept staged and named, in no bundle; so too when those events cannot be read now
    (the transport tells). The sealed events are read only with ``dag_run``."""
    from prov_common.bundle.events import another_dag_run
    from prov_common.bundle.storage import sealed_run

    try:
        if not transport.store.exists(layout.bundle_key(run_id, layout.STATEMENT_FILE)):
            return False
        return dag_run is None or another_dag_run(sealed_run(transport.store, run_id)[1].dag_run, dag_run) is None
    except TdprovError:
        return False


def emit(event: Any, attachments: dict[str, bytes] | None = None, *,
         transport: ProvenanceTransport | None = None) -> Any:
    """Stage attachments of the event's run, then the event itself; returns the transport's write result."""
    transport = transport or listener_transport()
    for name, data in (attachments or {}).items():
        transport.attach(event.run.runId, name, data)
    return transport.emit(event)
