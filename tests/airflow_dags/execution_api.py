"""The in-process execution API of ``dag.test()`` built for the one version its client speaks.

Each process that runs ``dag.test()`` builds Airflow's execution API app once, and on its first request Cadwyn
generates the routes and schemas of every API version Airflow still serves (nine in Airflow 3.3): about 4 s of CPU
per process, for versions that only task SDKs of older Airflow releases speak. The in-process client is this
Airflow's own task SDK, which sends the latest version; building the app for that version alone (its routes are
those of the head, less the ones kept only for older versions) serves every request it makes alike, in under 1 s.
"""
from __future__ import annotations

import functools
from typing import Any


@functools.cache
def serve_latest_version_only() -> None:
    """Build this process's in-process execution API for the latest version alone (once; before its first use).
    Where Airflow or Cadwyn no longer have the pieces this reads, the API is built as Airflow builds it (slower, the
    same answers): ``test_a_test_process_builds_the_in_process_execution_api_for_the_version_its_task_sdk_speaks``
    then fails, naming what to update, and no other test does."""
    try:
        import airflow.api_fastapi.execution_api.app as app_module
        import airflow.api_fastapi.execution_api.versions as versions
        from cadwyn import HeadVersion, Version, VersionBundle
        from cadwyn.route_generation import _DELETED_ROUTE_TAG
    except ImportError:
        return
    create = getattr(app_module, "create_task_execution_api_app", None)
    if create is None:
        return

    @functools.wraps(create)
    def create_latest(*args: Any, **kwargs: Any) -> Any:
        try:
            every = versions.bundle
            latest_only = VersionBundle(HeadVersion(), Version(every.versions[0].value))
        except Exception:  # noqa: BLE001 - Airflow or Cadwyn changed their internals: the API as Airflow builds it
            return create(*args, **kwargs)
        versions.bundle = latest_only  # read by create()
        try:
            app = create(*args, **kwargs)
        finally:
            versions.bundle = every
        latest = getattr(app, "_latest_version_router", None)  # a route kept for older versions only is served by none of the latest
        if latest is not None:
            latest.routes = [r for r in latest.routes if _DELETED_ROUTE_TAG not in getattr(r, "tags", ())]
        return app

    app_module.create_task_execution_api_app = create_latest
