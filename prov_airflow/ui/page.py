"""HTML of the bundles page of a DAG run (no I/O; every value escaped)."""
from __future__ import annotations

from html import escape
from urllib.parse import quote

from prov_airflow.ui.app import RUN_ROUTE
from prov_airflow.ui.runs import BundleStatus, DagRunBundles
from prov_common.text import counted

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a202c; }
h1 { font-size: 1.3rem; } .meta { color: #4a5568; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { border-bottom: 1px solid #e2e8f0; padding: .45rem .5rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; font-size: .9rem; }
th { background: #f7fafc; } code { font-size: .8rem; }
.verified { color: #22543d; background: #c6f6d5; } .failed { color: #742a2a; background: #fed7d7; }
.missing { color: #744210; background: #fefcbf; }
.error { color: #742a2a; background: #fed7d7; padding: .6rem .8rem; border-radius: .3rem; }
.warning { color: #744210; background: #fefcbf; padding: .6rem .8rem; border-radius: .3rem; }
.status { padding: .1rem .4rem; border-radius: .3rem; font-weight: 600; }
ul { margin: 0; padding-left: 1rem; } .pages a { margin-right: 1rem; }
"""


def _datasets(refs: tuple) -> str:
    if not refs:
        return "&mdash;"
    items = "".join(f"<li>{escape(ref.uri)}<br><code class='digest'>{escape(ref.version or 'no digest')}</code></li>"
                    for ref in refs)
    return f"<ul>{items}</ul>"


def _row(bundle: BundleStatus) -> str:
    """A bundle's row: its run (the DAG run, or a task try) named with the OpenLineage run id that 'tdprov verify'
    and 'tdprov show' take, its verification, state, datasets and location."""
    key = bundle.key
    task = "DAG run" if key.task_id is None else escape(key.task_id) + (
        f" [{key.map_index}]" if key.map_index >= 0 else "") + f" (try {key.try_number})"
    findings = "".join(f"<li>{escape(f)}</li>" for f in bundle.findings)
    return (f"<tr data-run-id='{escape(key.run_id)}'><td>{task}<br><code class='run-id'>{escape(key.run_id)}</code></td>"
            f"<td><span class='status {bundle.status}'>{bundle.status}</span>"
            f"{f'<ul>{findings}</ul>' if findings else ''}</td>"
            f"<td>{escape(bundle.state or '')}</td><td>{_datasets(bundle.outputs)}</td><td>{_datasets(bundle.inputs)}</td>"
            f"<td><code>{escape(bundle.location)}</code></td></tr>")


def _run_link(dag_id: str, run_id: str) -> str:
    """The link from the index (the app's root) to the DAG run's bundles page: :data:`RUN_ROUTE`, relative."""
    return RUN_ROUTE.lstrip("/").format(dag_id=quote(dag_id, safe=""), run_id=quote(run_id, safe=""))


def render_index(runs: list[tuple[str, str, str]]) -> str:
    """The index: recent DAG runs ``(dag_id, run_id, state)``, each linking to its bundles page; with none, what
    brings one here."""
    rows = "".join(
        f"<tr><td>{escape(dag_id)}</td><td><a href='{escape(_run_link(dag_id, run_id))}'>{escape(run_id)}</a></td>"
        f"<td>{escape(state)}</td></tr>" for dag_id, run_id, state in runs)
    listed = ("<p class='meta'>No DAG runs you may read yet: a DAG run of a DAG you may read is listed here once it is "
              "created, and links to its bundles, verified.</p>" if not runs else
              "<p class='meta'>The most recent DAG run you may read; it links to its bundles, verified.</p>" if len(runs) == 1 else
              f"<p class='meta'>The {len(runs)} most recent DAG runs you may read; each links to its bundles, verified.</p>")
    table = ("<table><thead><tr><th>DAG</th><th>DAG run</th><th>state</th></tr></thead>"
             f"<tbody>{rows}</tbody></table>") if runs else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>tdprov lineage bundles</title>"
        f"<style>{_STYLE}</style></head><body><h1>Lineage bundles by DAG run</h1>{listed}{table}</body></html>"
    )


def render_error(dag_id: str, run_id: str, status: int, detail: str) -> str:
    """The page of a DAG run whose bundles cannot be shown (HTTP ``status``): ``detail``, what is wrong and its fix."""
    return f"{_run_page_head(dag_id, run_id)}<p class='error' data-status='{status}'>{escape(detail)}</p></body></html>"


def _run_page_head(dag_id: str, run_id: str) -> str:
    """The start of a DAG run's page, up to its heading: what :func:`render` and :func:`render_error` share."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>tdprov bundles of {escape(dag_id)} / {escape(run_id)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Lineage bundles of DAG run <code>{escape(run_id)}</code> ({escape(dag_id)})</h1>"
    )


def _span(runs: DagRunBundles) -> str:
    """Which of the DAG run's bundles the page holds, when it holds fewer than all (else nothing)."""
    shown = len(runs.bundles)
    if runs.offset == 0 and shown == runs.total:
        return ""
    if not shown:
        return f" (none from bundle {runs.offset + 1:,} on: the DAG run has {counted(runs.total, 'bundle')})"
    return f" (bundles {runs.offset + 1:,}&ndash;{runs.offset + shown:,} of the DAG run's {runs.total:,})"


def _pages(runs: DagRunBundles) -> str:
    """Links to the previous and next pages of the DAG run's bundles (relative: they keep the page's own route), each
    saying how many bundles it leads to: the previous link those before this page (fewer than a page from an offset
    that is not a multiple of the limit), the next link those of the next page."""
    pages = (("prev", "previous", runs.previous_offset, runs.start - (runs.previous_offset or 0)),
             ("next", "next", runs.next_offset, runs.total - (runs.next_offset or 0)))
    links = [f"<a rel='{rel}' href='?offset={at}&amp;limit={runs.limit}'>{word} {counted(min(runs.limit, count), 'bundle')}</a>"
             for rel, word, at, count in pages if at is not None]
    return f"<p class='pages'>{''.join(links)}</p>" if links else ""


def render(runs: DagRunBundles) -> str:
    """The page: one row per bundle (DAG run, then task tries) with status, state, datasets and location, links to
    the other pages of a DAG run with more bundles than a page holds, and the page's ``warning``, if any."""
    verified = sum(b.verified for b in runs.bundles)
    rows = "".join(_row(b) for b in runs.bundles)
    pages = _pages(runs)
    warning = f"<p class='warning'>{escape(runs.warning)}</p>" if runs.warning else ""  # the namespace it expects names no bundle
    return (
        f"{_run_page_head(runs.dag_id, runs.run_id)}"
        f"<p class='meta'>{verified:,} of {counted(len(runs.bundles), 'bundle')} verified{_span(runs)} as 'tdprov verify RUN_ID' checks "
        "them (signature, manifest, events, and the index entry 'tdprov runs' lists), "
        f"in store <code>{escape(runs.store)}</code></p>"
        f"{warning}"
        f"{pages}<table><thead><tr><th style='width:17%'>run</th><th style='width:11%'>verification</th>"
        "<th style='width:11%'>state</th><th>outputs</th><th>inputs</th><th style='width:20%'>bundle</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{pages}</body></html>"
    )
