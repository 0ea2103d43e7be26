"""Flow editor pages for editors: the list of definitions with YAML upload and download, the
version history, the form (steps added, removed and reordered by HTMX swaps, a preview against
the stored events), the YAML editor, and a draft suggested from a provider's events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from flowscope.auth.models import User
from flowscope.deps import EditorUser, SessionDep, verify_csrf
from flowscope.errors import Conflict, FlowscopeError
from flowscope.flows.analysis.diagram import layout
from flowscope.flows.correlation.builds import build_status, latest_build
from flowscope.flows.definitions import preview, service
from flowscope.flows.definitions.discovery import discover, suggest_flow
from flowscope.flows.definitions.form import (
    Draft,
    apply_step_op,
    blank_draft,
    draft_from_form,
    errors_by_field,
    focus_after,
    friendly,
    kept_steps,
    renumbered,
    step_errors,
    unwired_steps,
    with_lines,
)
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.yaml_io import (
    InvalidDefinition,
    from_yaml,
    load_yaml,
    parse_definition,
    to_data,
    to_yaml,
)
from flowscope.web import invalid_form_status, is_htmx, redirect, render

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
FORM = "flows/editor/form.html"
MAX_UPLOAD_BYTES = 1_000_000


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = message


# ---------------------------------------------------------------------------------------------
# list, upload, download, history


def _list_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    problems: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    flows = service.list_flows(session)
    builds = {f.id: build_status(latest_build(session, f.id)) for f in flows}
    context = {
        "user": user,
        "flows": flows,
        "builds": builds,
        "flash": request.session.pop("flash", None),
        "problems": problems or [],
    }
    return render(request, "flows/editor/list.html", context, status_code=status_code)


@router.get("/flows/manage", name="flows_manage")
def manage(request: Request, session: SessionDep, user: EditorUser) -> Response:
    return _list_page(request, session, user)


@router.post("/flows/manage/upload", name="flow_upload")
async def upload(request: Request, session: SessionDep, user: EditorUser) -> Response:
    form = await request.form()
    file = form.get("file")
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise InvalidDefinition(
                "choose a YAML file", details=[{"path": "file", "message": "choose a YAML file"}]
            )
        body = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(body) > MAX_UPLOAD_BYTES:
            message = f"the file is over {MAX_UPLOAD_BYTES:,} bytes"
            raise InvalidDefinition(message, details=[{"path": "file", "message": message}])
        # Parsing a large file takes CPU seconds: in a worker thread, not on the event loop.
        definition = await run_in_threadpool(from_yaml, body)
    except InvalidDefinition as exc:
        details = exc.details or [{"path": "", "message": exc.message}]
        return _list_page(
            request, session, user, problems=details, status_code=invalid_form_status(request)
        )
    flow, outcome = service.store_definition(session, definition, user.username)
    words = {"created": "created", "updated": f"saved as version {flow.version}"}
    _flash(request, f"{flow.name}: {words.get(outcome, 'unchanged, no new version')}")
    return redirect(request, str(request.url_for("flows_manage").path))


@router.get("/flows/manage/{slug}/download", name="flow_download")
def download(slug: str, session: SessionDep, _user: EditorUser) -> Response:
    flow = service.get_flow(session, slug)
    return Response(
        to_yaml(service.definition_of(flow)),
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{slug}.yaml"'},
    )


@router.get("/flows/manage/{slug}/history", name="flow_history")
def history(request: Request, slug: str, session: SessionDep, user: EditorUser) -> Response:
    flow = service.get_flow(session, slug)
    versions = list(service.list_versions(session, slug))
    rows = []
    for i, version in enumerate(versions):
        previous = versions[i + 1].definition if i + 1 < len(versions) else None
        rows.append((version, service.describe_change(previous, version.definition)))
    context = {"user": user, "flow": flow, "rows": rows}
    return render(request, "flows/editor/history.html", context)


# ---------------------------------------------------------------------------------------------
# the form


def _reads_back(text: str) -> Any:
    try:
        return load_yaml(text)
    except InvalidDefinition:
        return None


def _value_text(value: Any) -> str:
    """An exception's value as the form shows it: text as is, anything else as JSON (YAML)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.strip() and _reads_back(value) == value:
        return value
    return json.dumps(value)  # also text like "42" or "true", quoted so it stays text


def _form_context(
    session: SessionDep,
    user: User,
    draft: Draft,
    expected_version: int,
    **extra: Any,
) -> dict[str, Any]:
    seen = preview.providers_seen(session)
    chosen = [p for p in draft.get("providers", []) if isinstance(p, str)]
    types = preview.event_types_seen(session, [p for p in chosen if p in seen])
    errors: dict[str, list[str]] = extra.pop("errors", {})
    return {
        "user": user,
        "draft": draft,
        "expected_version": expected_version,
        "editing": expected_version > 0,
        "providers": list(dict.fromkeys([*seen, *chosen])),
        "seen": set(seen),
        "types": types,
        "errors": errors,
        "step_errors": lambda i: step_errors(errors, i),
        "problems": extra.pop("problems", []),
        "preview_days": preview.PREVIEW_DAYS,
        "preview_choices": preview.PREVIEW_CHOICES,
        "value_text": _value_text,
        "unwired": unwired_steps(draft),
        **extra,
    }


async def _submitted(request: Request, *, keep_blank: bool = False) -> tuple[FormData, Draft, int]:
    form = await request.form()
    providers = [p for p in form.getlist("providers") if isinstance(p, str)]
    version = form.get("expected_version")
    expected = int(version) if isinstance(version, str) and version.isdigit() else 0
    return form, draft_from_form(form, providers, keep_blank_steps=keep_blank), expected


@router.get("/flows/manage/new", name="flow_new")
def new_flow(request: Request, session: SessionDep, user: EditorUser) -> Response:
    return render(request, FORM, _form_context(session, user, blank_draft(), 0))


@router.get("/flows/manage/{slug}/edit", name="flow_edit")
def edit_flow(request: Request, slug: str, session: SessionDep, user: EditorUser) -> Response:
    flow = service.get_flow(session, slug)
    draft = to_data(service.definition_of(flow))
    return render(request, FORM, _form_context(session, user, draft, flow.version))


@router.post("/flows/manage/draft", name="flow_draft")
async def draft_op(request: Request, session: SessionDep, user: EditorUser) -> Response:
    """Add, remove or move a step (or refresh the offered event types) without saving."""
    form, draft, expected = await _submitted(request, keep_blank=True)
    op = form.get("op")
    op = op if isinstance(op, str) else ""
    apply_step_op(draft, op)
    block = "steps" if is_htmx(request) else None
    focus = focus_after(op, len(draft["steps"]))
    context = _form_context(session, user, draft, expected, focus=focus, unsaved=True)
    return render(request, FORM, context, block=block)


@router.post("/flows/manage/preview", name="flow_preview")
async def preview_draft(request: Request, session: SessionDep, user: EditorUser) -> Response:
    form, draft, _expected = await _submitted(request)
    chosen = form.get("preview_days")
    days = int(chosen) if isinstance(chosen, str) and chosen.isdigit() else 0
    days = days if days in preview.PREVIEW_CHOICES else preview.PREVIEW_DAYS
    context: dict[str, Any] = {"preview": None, "problems": []}
    try:
        context["preview"] = preview.preview(session, parse_definition(draft), days=days)
    except InvalidDefinition as exc:
        context["problems"] = renumbered(friendly(exc.details or []), kept_steps(form))
    except FlowscopeError as exc:  # the preview timed out
        context["problems"] = [{"path": "", "message": exc.message}]
    return render(request, "flows/editor/_preview.html", context)


@router.post("/flows/manage/diagram", name="flow_diagram_preview")
async def diagram_preview(request: Request, _user: EditorUser) -> Response:
    """The draft's diagram, redrawn beside the form as it changes (nothing is stored)."""
    _form, draft, _expected = await _submitted(request)
    context: dict[str, Any] = {"layout": None, "problems": [], "unwired": unwired_steps(draft)}
    try:
        context["layout"] = layout(parse_definition(preview.sketch(draft)))
    except InvalidDefinition as exc:
        context["problems"] = exc.details or [{"path": "", "message": exc.message}]
    return render(request, "flows/editor/_live_diagram.html", context)


def _save(
    request: Request, session: SessionDep, user: User, definition: FlowDefinition, expected: int
) -> Response:
    flow, outcome = service.store_definition(
        session, definition, user.username, expected_version=expected
    )
    # Back to the list, which shows the outcome and the rebuild's progress. The analyst page
    # shows no flash message, so a save answered there would look as if nothing happened.
    if outcome == "unchanged":
        _flash(request, f"{flow.name}: nothing changed, no new version")
    else:
        _flash(request, f"{flow.name}: saved as version {flow.version}; the flow is rebuilding")
    return redirect(request, str(request.url_for("flows_manage").path))


@router.post("/flows/manage/save", name="flow_save")
async def save(request: Request, session: SessionDep, user: EditorUser) -> Response:
    _form, draft, expected = await _submitted(request)
    try:
        return _save(request, session, user, parse_definition(draft), expected)
    except InvalidDefinition as exc:
        details = friendly(exc.details or [])
        if not draft["steps"]:  # all blank: show one to fill in, next to "add at least one step"
            draft = {**draft, "steps": [{"events": []}]}
        context = _form_context(
            session, user, draft, expected, errors=errors_by_field(details), problems=details
        )
    except Conflict as exc:
        context = _form_context(session, user, draft, expected, conflict=exc.message)
    return render(request, FORM, context, status_code=invalid_form_status(request))


# ---------------------------------------------------------------------------------------------
# the YAML editor


@router.get("/flows/manage/yaml", name="flow_yaml")
def yaml_editor(
    request: Request, session: SessionDep, user: EditorUser, slug: str | None = None
) -> Response:
    source, version = "", 0
    if slug:
        flow = service.get_flow(session, slug)
        source, version = to_yaml(service.definition_of(flow)), flow.version
    context = {
        "user": user,
        "source": source,
        "expected_version": version,
        "problems": [],
        "slug": slug,
    }
    return render(request, "flows/editor/yaml.html", context)


@router.post("/flows/manage/yaml", name="flow_yaml_save")
async def yaml_save(request: Request, session: SessionDep, user: EditorUser) -> Response:
    form = await request.form()
    source = form.get("source")
    source = source if isinstance(source, str) else ""
    version = form.get("expected_version")
    expected = int(version) if isinstance(version, str) and version.isdigit() else 0
    loaded = form.get("loaded")
    context: dict[str, Any] = {
        "user": user,
        "source": source,
        "expected_version": expected,
        "slug": loaded if isinstance(loaded, str) and loaded else None,
    }
    try:
        definition = await run_in_threadpool(from_yaml, source)  # CPU-bound: off the loop
        return _save(request, session, user, definition, expected)
    except InvalidDefinition as exc:
        details = exc.details or [{"path": "", "message": exc.message}]
        context["problems"] = with_lines(source, friendly(details))
    except Conflict as exc:
        context["problems"], context["conflict"] = [], exc.message
    status = invalid_form_status(request)
    return render(request, "flows/editor/yaml.html", context, status_code=status)


# ---------------------------------------------------------------------------------------------
# a draft suggested from the events


def _suggest_page(
    request: Request,
    session: SessionDep,
    user: User,
    provider: str | None,
    *,
    error: str | None = None,
) -> Response:
    providers = preview.providers_seen(session)
    chosen = provider if provider in providers else (providers[0] if providers else None)
    paths = preview.attribute_paths(session, chosen) if chosen else []
    context = {
        "user": user,
        "providers": providers,
        "chosen": chosen,
        "paths": paths,
        "error": error,
        "days": preview.PREVIEW_DAYS,
    }
    block = "paths" if is_htmx(request) and request.headers.get("hx-target") == "paths" else None
    status = invalid_form_status(request) if error else 200
    return render(request, "flows/editor/suggest.html", context, block=block, status_code=status)


@router.get("/flows/manage/suggest", name="flow_suggest")
def suggest_page(
    request: Request, session: SessionDep, user: EditorUser, provider: str | None = None
) -> Response:
    return _suggest_page(request, session, user, provider)


def _free_slug(session: SessionDep, base: str) -> str:
    taken = {f.slug for f in service.list_flows(session)}
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base[:60]}-{n}", n + 1
    return slug


@router.post("/flows/manage/suggest", name="flow_suggest_draft")
async def suggest_draft(request: Request, session: SessionDep, user: EditorUser) -> Response:
    """Discover the provider's flow from its last 30 days of events and open it in the form."""
    form = await request.form()
    provider = form.get("provider")
    provider = provider if isinstance(provider, str) else ""
    typed, picked = form.get("correlation_other"), form.get("correlation")
    correlation = next((c.strip() for c in (typed, picked) if isinstance(c, str) and c.strip()), "")
    since = datetime.now(UTC) - timedelta(days=preview.PREVIEW_DAYS)
    try:
        if not provider or not correlation:
            raise FlowscopeError("choose a provider and a correlation field")
        found = discover(session, provider, correlation, start=since)
        slug = _free_slug(session, service.slug_for(provider))
        definition = suggest_flow(found, slug, provider[:128], provider, correlation)
    except FlowscopeError as exc:
        return _suggest_page(request, session, user, provider, error=exc.message)
    context = _form_context(
        session,
        user,
        to_data(definition),
        0,
        flash=f"Suggested from {found.cases:,} flows and {found.events:,} events of {provider} "
        f"in the last {preview.PREVIEW_DAYS} days: check it, then save.",
    )
    return render(request, FORM, context)
