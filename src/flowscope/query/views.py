"""The query notebook: editor, timeframe, result as table or chart, saved queries, share link."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from flowscope.deps import CurrentUser, SessionDep, SettingsDep, verify_csrf
from flowscope.errors import FlowscopeError
from flowscope.query import saved, service
from flowscope.query.ast_builder import COMMAND_NAMES
from flowscope.query.errors import QueryError
from flowscope.query.functions import AGGREGATES, ALL_FUNCTIONS, SCALARS
from flowscope.query.presentation import cell_text, chart_for
from flowscope.settings import Settings
from flowscope.web import is_htmx, redirect, render, templates

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
templates.env.filters["fql_cell"] = cell_text

EXAMPLE = """fetch bizevents
| summarize count(), by: {event.provider, event.type}
| sort `count()` desc
"""
DISPLAY_ROWS = 1_000  # an HTML table of 10,000 rows helps nobody and costs the browser
PRESETS = ("-30m", "-1h", "-2h", "-6h", "-24h", "-7d", "-30d")

TimeFrom = Annotated[str | None, Query(alias="from", max_length=64)]
TimeTo = Annotated[str | None, Query(alias="to", max_length=64)]


def _share_url(request: Request, query: str, time_from: str, time_to: str) -> str:
    params = {"q": query, "from": time_from}
    if time_to:
        params["to"] = time_to
    return str(request.url_for("notebook").include_query_params(**params))


def _error_context(query: str, error: QueryError) -> dict[str, Any]:
    """The error, and the line it points at with a caret under the column."""
    context: dict[str, Any] = {"error": error, "error_line": None, "caret": ""}
    lines = query.splitlines()
    if error.line is not None and 1 <= error.line <= len(lines):
        context["error_line"] = lines[error.line - 1]
        context["caret"] = " " * max(0, (error.column or 1) - 1) + "^"
    return context


def _run(
    request: Request, session: SessionDep, settings: Settings, query: str, tf: str, tt: str
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "display_rows": DISPLAY_ROWS,
        "result": None,
        "error": None,
        "chart": None,
        "share_url": _share_url(request, query, tf, tt),
    }
    try:
        result = service.run_query(
            session,
            query,
            time_from=tf or None,
            time_to=tt or None,
            timeout_s=settings.query_timeout_seconds,
            row_cap=settings.query_row_cap,
            default_from=settings.query_default_from,
            max_columns=settings.query_max_columns,
            max_bytes=settings.query_max_result_bytes,
        )
    except QueryError as exc:
        context.update(_error_context(query, exc))
        return context
    context["result"] = result
    context["chart"] = chart_for(result)
    return context


def _page_context(
    session: SessionDep, user: CurrentUser, settings: Settings, query: str, tf: str, tt: str
) -> dict[str, Any]:
    return {
        "user": user,
        "query": query,
        "time_from": tf,
        "time_to": tt,
        "presets": PRESETS,
        "saved_queries": saved.list_saved(session, user.id),
        "saved_error": None,
        "result": None,
        "error": None,
        "chart": None,
        "autorun": False,
        "default_from": settings.query_default_from,
        "commands": COMMAND_NAMES,
        "functions": sorted(ALL_FUNCTIONS),
        "aggregations": [f.signature for _, f in sorted(AGGREGATES.items())],
        "scalars": [f.signature for _, f in sorted(SCALARS.items())],
    }


@router.get("/query", name="notebook")
def notebook(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=20_000)] = None,
    time_from: TimeFrom = None,
    time_to: TimeTo = None,
    saved_id: Annotated[int | None, Query(alias="saved")] = None,
) -> Response:
    if saved_id is not None:
        stored = saved.get_saved(session, user.id, saved_id)
        q, time_from, time_to = stored.query, stored.time_from, stored.time_to
    tf = time_from or settings.query_default_from
    context = _page_context(session, user, settings, q or EXAMPLE, tf, time_to or "")
    context["autorun"] = q is not None
    context["saved_name"] = stored.name if saved_id is not None else ""
    return render(request, "query/notebook.html", context)


@router.post("/query/run", name="notebook_run")
def run(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    query: Annotated[str, Form(max_length=20_000)],
    time_from: Annotated[str, Form(alias="from", max_length=64)] = "",
    time_to: Annotated[str, Form(alias="to", max_length=64)] = "",
) -> Response:
    tf = time_from.strip() or settings.query_default_from
    tt = time_to.strip()
    outcome = _run(request, session, settings, query, tf, tt)
    if is_htmx(request):
        response = render(request, "query/notebook.html", outcome, block="result")
        response.headers["HX-Replace-Url"] = outcome["share_url"]
        return response
    context = _page_context(session, user, settings, query, tf, tt)
    context.update(outcome)
    return render(request, "query/notebook.html", context)


def _saved_block(
    request: Request, session: SessionDep, user: CurrentUser, error: str | None
) -> Response:
    context = {"saved_queries": saved.list_saved(session, user.id), "saved_error": error}
    return render(request, "query/notebook.html", context, block="saved")


@router.post("/query/saved", name="query_save")
def save(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    query: Annotated[str, Form(max_length=20_000)],
    name: Annotated[str, Form(max_length=200)] = "",
    time_from: Annotated[str, Form(alias="from", max_length=64)] = "",
    time_to: Annotated[str, Form(alias="to", max_length=64)] = "",
) -> Response:
    error = None
    try:
        stored = saved.save_query(session, user.id, name, query, time_from, time_to)
    except FlowscopeError as exc:
        if not is_htmx(request):
            raise
        error = exc.message
    if is_htmx(request):
        return _saved_block(request, session, user, error)
    target = request.url_for("notebook").include_query_params(saved=stored.id)
    return redirect(request, str(target))


@router.post("/query/saved/{query_id}/delete", name="query_delete")
def delete(request: Request, session: SessionDep, user: CurrentUser, query_id: int) -> Response:
    saved.delete_saved(session, user.id, query_id)
    if is_htmx(request):
        return _saved_block(request, session, user, None)
    return redirect(request, request.url_for("notebook").path)
