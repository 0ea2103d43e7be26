"""Dashboard pages: list, view (tiles load one by one with HTMX), edit forms, import/export."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from flowscope.auth.models import Role, User
from flowscope.dashboards import forms, service, templating, tiles
from flowscope.dashboards.schemas import VIZ_NAMES, DashboardSpec
from flowscope.deps import CurrentUser, EditorUser, SessionDep, SettingsDep, verify_csrf
from flowscope.errors import Conflict, FlowscopeError
from flowscope.flows.definitions import service as flows_service
from flowscope.web import redirect, render

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
VAR_PREFIX = "var_"
PRESETS = ("-1h", "-6h", "-24h", "-7d", "-30d")


def _back(request: Request, slug: str, edit: bool = True) -> Response:
    url = request.url_for("dashboard", slug=slug)
    return redirect(request, str(url.include_query_params(edit=1) if edit else url))


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.get("/dashboards", name="dashboards")
def dashboards(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    context = {
        "user": user,
        "dashboards": service.list_dashboards(session),
        "flows": flows_service.list_flows(session),
        "can_edit": user.role.allows(Role.editor),
    }
    return render(request, "dashboards/list.html", context)


@router.post("/dashboards", name="dashboard_create")
def create_dashboard(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    name: Annotated[str, Form(max_length=128)],
) -> Response:
    dashboard = service.create(session, service.parse_spec({"name": name.strip()}), user.username)
    return _back(request, dashboard.slug)


@router.post("/dashboards/import", name="dashboard_import")
async def import_dashboard(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    document: Annotated[str, Form(max_length=1_000_000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    text = document
    if file is not None and file.filename:
        text = (await file.read(1_000_001)).decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FlowscopeError(f"document: not JSON ({exc})") from None
    dashboard = service.import_dashboard(session, data, user.username)
    return _back(request, dashboard.slug, edit=False)


@router.post("/dashboards/from-flow/{slug}", name="dashboard_from_flow")
def dashboard_from_flow(
    request: Request, session: SessionDep, user: EditorUser, slug: str
) -> Response:
    definition = flows_service.definition_of(flows_service.get_flow(session, slug))
    dashboard = templating.dashboard_for_flow(session, definition, changed_by=user.username)
    return _back(request, dashboard.slug, edit=False)


def _page_state(request: Request, spec: DashboardSpec) -> dict[str, Any]:
    params = request.query_params
    return {
        "time_from": params.get("from") or spec.time_from,
        "time_to": params.get("to", spec.time_to),
        "refresh": params.get("refresh") == "1",
        "requested": {
            k.removeprefix(VAR_PREFIX): v for k, v in params.items() if k.startswith(VAR_PREFIX)
        },
    }


@router.get("/dashboards/{slug}", name="dashboard")
def dashboard(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, slug: str
) -> Response:
    board = service.get_dashboard(session, slug)
    spec = service.spec_of(board)
    state = _page_state(request, spec)
    frame = tiles.TimeframeText(state["time_from"], state["time_to"])
    options, errors = {}, []
    for variable in spec.variables:
        options[variable.name], error = tiles.variable_options(session, settings, variable, frame)
        if error:
            errors.append(error)
    values = tiles.chosen_values(spec, state["requested"], options)
    tile_params = {"from": frame.time_from, "to": frame.time_to}
    tile_params.update({VAR_PREFIX + k: v for k, v in values.items()})
    can_edit = user.role.allows(Role.editor)
    context = {
        "user": user,
        "board": board,
        "spec": spec,
        "state": state,
        "options": options,
        "values": values,
        "variable_errors": errors,
        "tile_query": urlencode(tile_params),
        "markdown": {t.id: tiles.render_markdown(t.markdown) for t in spec.tiles},
        "can_edit": can_edit,
        "editing": can_edit and request.query_params.get("edit") == "1",
        "changes": service.changes(session, board, 10),
        "viz_names": VIZ_NAMES,
        "thresholds_text": forms.thresholds_text,
        "presets": PRESETS,
    }
    return render(request, "dashboards/dashboard.html", context)


@router.get("/dashboards/{slug}/tiles/{tile_id}", name="dashboard_tile")
def dashboard_tile(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    slug: str,
    tile_id: str,
) -> Response:
    spec = service.spec_of(service.get_dashboard(session, slug))
    tile = service.find_tile(spec, tile_id)
    state = _page_state(request, spec)
    frame = tiles.TimeframeText(state["time_from"], state["time_to"])
    values = tiles.chosen_values(spec, state["requested"], {})
    view = tiles.tile_view(session, settings, tile, frame, values)
    return render(request, "dashboards/_tile.html", {"view": view})


async def _change(
    request: Request, session: SessionDep, user: User, slug: str, edit: Any, summary: str
) -> Response:
    board = service.get_dashboard(session, slug)
    form = await _form(request)
    seen = form.get("version", "")
    if seen and seen != str(board.version):
        # another editor saved since this page was rendered: applying the edit to their
        # version could undo their change without either of them noticing
        raise Conflict(
            f"version: the dashboard changed since you opened it (now version "
            f"{board.version}, by {board.updated_by}): reload and edit again"
        )
    spec = edit(service.spec_of(board), form)
    service.update(session, board, spec, user.username, summary)
    return _back(request, slug)


@router.post("/dashboards/{slug}/tiles", name="dashboard_tile_add")
async def add_tile(request: Request, session: SessionDep, user: EditorUser, slug: str) -> Response:
    def edit(spec: DashboardSpec, form: dict[str, str]) -> DashboardSpec:
        return forms.tile_from_form(spec, form, None)

    return await _change(request, session, user, slug, edit, "added a tile")


@router.post("/dashboards/{slug}/tiles/{tile_id}", name="dashboard_tile_edit")
async def edit_tile(
    request: Request, session: SessionDep, user: EditorUser, slug: str, tile_id: str
) -> Response:
    def edit(spec: DashboardSpec, form: dict[str, str]) -> DashboardSpec:
        return forms.tile_from_form(spec, form, service.find_tile(spec, tile_id))

    return await _change(request, session, user, slug, edit, f"edited tile {tile_id}")


@router.post("/dashboards/{slug}/tiles/{tile_id}/move", name="dashboard_tile_move")
async def move_tile(
    request: Request, session: SessionDep, user: EditorUser, slug: str, tile_id: str
) -> Response:
    def edit(spec: DashboardSpec, form: dict[str, str]) -> DashboardSpec:
        step = forms.MOVES.get(form.get("op", ""))
        if step is None:
            raise FlowscopeError(f"op: one of {', '.join(forms.MOVES)}")
        return service.moved(spec, tile_id, *step)

    return await _change(request, session, user, slug, edit, f"moved/resized tile {tile_id}")


@router.post("/dashboards/{slug}/tiles/{tile_id}/delete", name="dashboard_tile_delete")
async def delete_tile(
    request: Request, session: SessionDep, user: EditorUser, slug: str, tile_id: str
) -> Response:
    def edit(spec: DashboardSpec, form: dict[str, str]) -> DashboardSpec:
        return service.without_tile(spec, tile_id)

    return await _change(request, session, user, slug, edit, f"deleted tile {tile_id}")


@router.post("/dashboards/{slug}/variables", name="dashboard_variable_add")
async def add_variable(
    request: Request, session: SessionDep, user: EditorUser, slug: str
) -> Response:
    return await _change(request, session, user, slug, forms.variable_from_form, "set a variable")


@router.post("/dashboards/{slug}/variables/{name}/delete", name="dashboard_variable_delete")
async def delete_variable(
    request: Request, session: SessionDep, user: EditorUser, slug: str, name: str
) -> Response:
    def edit(spec: DashboardSpec, form: dict[str, str]) -> DashboardSpec:
        return forms.without_variable(spec, name)

    return await _change(request, session, user, slug, edit, f"deleted variable ${name}")


@router.post("/dashboards/{slug}/settings", name="dashboard_settings")
async def dashboard_settings(
    request: Request, session: SessionDep, user: EditorUser, slug: str
) -> Response:
    return await _change(request, session, user, slug, forms.settings_from_form, "settings")


@router.post("/dashboards/{slug}/delete", name="dashboard_delete")
def delete_dashboard(
    request: Request, session: SessionDep, user: EditorUser, slug: str
) -> Response:
    service.delete(session, service.get_dashboard(session, slug))
    return redirect(request, str(request.url_for("dashboards")))
