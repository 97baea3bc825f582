"""The FastAPI app the plugin mounts in Airflow's API server at ``/tdprov``.

``GET /tdprov/dag-runs/{dag_id}/{run_id}``: the page (HTML) of a DAG run's bundles with their
verification status, :data:`~prov_airflow.ui.runs.PAGE_SIZE` at a time (``?offset=&limit=``);
an error (no such DAG run, a store that cannot be read) as a page saying it and the fix, or as JSON
``{"detail": ...}`` to a request that asks for JSON (:func:`wants_json`);
``GET /tdprov/api/dag-runs/{dag_id}/{run_id}``: the same as JSON, with how many bundles the DAG run has in all;
``GET /tdprov/``: the most recent DAG runs the caller may read, each linking to its page. Access is
Airflow's own: the caller must be allowed to read the DAG's runs (the UI's session cookie or a token).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # FastAPI loads with the app, in the API server only: workers and the scheduler load the plugin
    from fastapi import FastAPI

URL_PREFIX = "/tdprov"
RUN_ROUTE = "/dag-runs/{dag_id}/{run_id}"
"""The route of a DAG run's bundles page, under :data:`URL_PREFIX` (its JSON under ``/api``)."""


def _bundles(dag_id: str, run_id: str, offset: int, limit: int) -> Any:
    from airflow.utils.session import create_session
    from fastapi import HTTPException

    from prov_common.errors import TdprovError
    from prov_common.store.location import absolute_location

    from prov_airflow.hooks.provenance import ProvenanceHook
    from prov_airflow.settings import conf_get
    from prov_airflow.ui.runs import check_page, run_keys, verified_page

    try:
        check_page(offset, limit)  # before the store is opened: a bad page is refused with no read (checked once)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    hook = ProvenanceHook(conf_get("conn_id") or None, named_by="[tdprov] conn_id")
    try:
        settings = hook.get_settings()
        store = hook.get_conn()
        with create_session() as session:
            # a local store by its absolute path: a relative [tdprov] store is a folder of the API server's working folder
            return verified_page(dag_id, run_id, run_keys(dag_id, run_id, session), store, _trust(hook, settings),
                                 absolute_location(settings.store), offset, limit)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except TdprovError as exc:
        raise HTTPException(503, f"the tdprov store cannot be read: {exc}") from None


def _trust(hook: Any, settings: Any) -> Any:
    """The keys the page verifies bundles with; trusted keys that cannot be read are refused with 503 as such (not as
    the store), the fix naming where they are set, or where the signing key is, whose public key local trust takes
    (``hook``: the :class:`ProvenanceHook` of ``settings``)."""
    from fastapi import HTTPException

    from prov_common.errors import BadInputError

    try:
        return hook.get_trust(settings)
    except BadInputError as exc:
        raise HTTPException(503, f"the trusted keys the page verifies bundles with cannot be read: {exc}") from None


def wants_json(accept: str) -> bool:
    """Whether a request's ``Accept`` header prefers JSON to HTML: ``application/json`` of a higher quality than
    ``text/html`` (or ``text/*``, ``*/*``), or of the same when it is named and ``text/html`` is not (a script's
    ``application/json, */*``). The page's errors answer it as JSON, a browser's tab as HTML. Media types and
    parameter names are case-insensitive (RFC 9110): ``application/json;Q=0`` refuses JSON as ``q=0`` does."""
    quality: dict[str, float] = {}
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = next((value.strip() for name, _, value in (p.partition("=") for p in params) if name.strip().lower() == "q"), "1")
        try:
            quality[kind.lower()] = float(q)
        except ValueError:
            quality[kind.lower()] = 0.0

    def of(*kinds: str) -> float:
        return next((quality[k] for k in kinds if k in quality), 0.0)

    json, html = of("application/json", "application/*", "*/*"), of("text/html", "text/*", "*/*")
    return json > html or (json == html > 0 and "application/json" in quality and "text/html" not in quality)


RECENT_RUNS = 50


def _recent_runs(user: Any) -> list[tuple[str, str, str]]:
    """The most recent DAG runs of the DAGs ``user`` may read (Airflow's auth manager decides)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag_ids = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
    with create_session() as session:
        rows = session.execute(select(DagRun.dag_id, DagRun.run_id, DagRun.state).where(DagRun.dag_id.in_(dag_ids))
                               .order_by(DagRun.run_after.desc()).limit(RECENT_RUNS)).all()
    return [(dag_id, run_id, str(state) if state else "") for dag_id, run_id, state in rows]


def _read_access() -> Any:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends

    return Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN))


def create_app() -> FastAPI:
    """The app of the tdprov pages (mounted by the plugin under :data:`URL_PREFIX`)."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, Header, HTTPException
    from fastapi.responses import HTMLResponse

    from prov_airflow.ui.page import render, render_error, render_index
    from prov_airflow.ui.runs import PAGE_SIZE

    app = FastAPI(title="tdprov lineage bundles", docs_url=None, redoc_url=None, openapi_url=None)
    access = [_read_access()]

    @app.get(RUN_ROUTE, response_class=HTMLResponse, dependencies=access)
    def dag_run_page(dag_id: str, run_id: str, offset: int = 0, limit: int = PAGE_SIZE,
                     accept: str = Header("")) -> Any:  # noqa: B008 - FastAPI's dependency idiom
        try:
            return render(_bundles(dag_id, run_id, offset, limit))
        except HTTPException as exc:  # the DAG run's tab shows a page saying why, a JSON client gets its detail
            if wants_json(accept):
                raise
            return HTMLResponse(render_error(dag_id, run_id, exc.status_code, str(exc.detail)), exc.status_code)

    @app.get("/", response_class=HTMLResponse)
    def index(user: Any = Depends(get_user)) -> str:  # noqa: B008 - FastAPI's dependency idiom
        return render_index(_recent_runs(user))

    @app.get("/api" + RUN_ROUTE, dependencies=access)
    def dag_run_json(dag_id: str, run_id: str, offset: int = 0, limit: int = PAGE_SIZE) -> dict[str, Any]:
        return _bundles(dag_id, run_id, offset, limit).to_dict()

    return app


class LazyApp:
    """An ASGI app that builds :func:`create_app` on its first request, so that the processes which load
    the plugin without serving it (workers, scheduler) never import the API server's modules."""

    def __init__(self) -> None:
        self._app: FastAPI | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)

    def __repr__(self) -> str:
        return "prov_airflow.ui.app.LazyApp"
