"""Rule pages: the form (new, prefilled from a KPI card's `?flow=&kpi=&step=`, or edit) with
*Suggest values* and a live preview (HTMX posts the unsaved form and swaps the chart in),
and the rule's page: its series over the last 7 days with the threshold or band, and its
alerts. Editors change rules; everyone signed in may look.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from flowscope.alerts import service
from flowscope.alerts.chart import chart
from flowscope.alerts.form import form_fields, form_values, prefilled, rule_data, values_of
from flowscope.alerts.preview import Preview, preview, suggest
from flowscope.alerts.schemas import FLOW_KPIS, STEP_KPIS, Id
from flowscope.alerts.service import AlertFilter, InvalidRule
from flowscope.auth.models import Role, User
from flowscope.deps import CurrentUser, EditorUser, SessionDep, SettingsDep, verify_csrf
from flowscope.errors import FlowscopeError
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.service import list_flows
from flowscope.web import redirect, render, render_invalid

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

FormFields = Annotated[dict[str, str], Depends(form_fields)]
Slug = Annotated[str | None, Query(max_length=64)]


def _form_context(
    session: Session, user: User, values: dict[str, str], rule_id: int | None = None
) -> dict[str, Any]:
    flows = list_flows(session)
    steps = {
        f.slug: [(s.key, s.name) for s in FlowDefinition.model_validate(f.definition).steps]
        for f in flows
    }
    return {
        "user": user,
        "values": values,
        "flows": [(f.slug, f.name) for f in flows],
        "steps": steps,
        "flow_kpis": FLOW_KPIS,
        "step_kpis": STEP_KPIS,
        "rule_id": rule_id,
        "problems": [],
    }


@router.get("/alert-rules/new", name="alert_rule_new")
def new_rule(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    flow: Slug = None,
    kpi: Annotated[str | None, Query(max_length=32)] = None,
    step: Slug = None,
) -> Response:
    context = _form_context(session, user, prefilled(flow, kpi, step))
    return render(request, "alerts/rule_form.html", context)


@router.post("/alert-rules/new", name="alert_rule_create")
def create_rule(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    settings: SettingsDep,
    form: FormFields,
) -> Response:
    try:
        rule = service.parse_rule(rule_data(form))
        row = service.create_rule(session, rule, user.username, settings.alert_min_interval_seconds)
    except InvalidRule as exc:
        context = _form_context(session, user, form_values(form))
        context["problems"] = exc.details or [{"field": "rule", "message": exc.message}]
        return render_invalid(request, "alerts/rule_form.html", context)
    return redirect(request, request.url_for("alert_rule", rule_id=row.id).path)


@router.get("/alert-rules/{rule_id}/edit", name="alert_rule_edit")
def edit_rule(request: Request, session: SessionDep, user: EditorUser, rule_id: Id) -> Response:
    row = service.get_rule(session, rule_id)
    context = _form_context(session, user, values_of(service.rule_of(row)), rule_id)
    return render(request, "alerts/rule_form.html", context)


@router.post("/alert-rules/{rule_id}/edit", name="alert_rule_update")
def update_rule(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    settings: SettingsDep,
    rule_id: Id,
    form: FormFields,
) -> Response:
    try:
        rule = service.parse_rule(rule_data(form))
        service.update_rule(
            session, rule_id, rule, user.username, settings.alert_min_interval_seconds
        )
    except InvalidRule as exc:
        context = _form_context(session, user, form_values(form), rule_id)
        context["problems"] = exc.details or [{"field": "rule", "message": exc.message}]
        return render_invalid(request, "alerts/rule_form.html", context)
    return redirect(request, request.url_for("alert_rule", rule_id=rule_id).path)


@router.post("/alert-rules/{rule_id}/delete", name="alert_rule_delete")
def delete_rule(request: Request, session: SessionDep, user: EditorUser, rule_id: Id) -> Response:
    service.delete_rule(session, rule_id, user.username)
    return redirect(request, request.url_for("alerts").path)


def _chart_context(result: Preview) -> dict[str, Any]:
    return {
        "preview": result,
        "charts": [(g, chart(g, result.start, result.end)) for g in result.groups],
    }


def _suggested(session: Session, form: dict[str, str]) -> dict[str, Any]:
    """Suggest values for the form's source, as a static rule in its direction."""
    below = form.get("condition") == "below"
    analyzer = {"type": "static", "condition": "below" if below else "above", "threshold": 0}
    return suggest(session, service.parse_rule({**rule_data(form), "analyzer": analyzer}))


@router.post("/alert-rules/preview", name="alert_rule_preview_form")
def preview_form(
    request: Request, session: SessionDep, user: CurrentUser, form: FormFields
) -> Response:
    """The unsaved form's backtest, as the chart fragment (errors shown in its place). A
    static rule without a threshold yet is previewed with the suggested one."""
    note = None
    try:
        data = rule_data(form)
        if data["analyzer"]["type"] == "static" and "threshold" not in data["analyzer"]:
            found = _suggested(session, form)
            if found["threshold"] is not None:
                data["analyzer"]["threshold"] = found["threshold"]
                note = f"No threshold yet: shown with the suggested {found['threshold']:g}."
        result = preview(session, service.parse_rule(data))
    except FlowscopeError as exc:
        return render(request, "alerts/_preview.html", {"error": exc.message})
    if note:
        result.notes.insert(0, note)
    return render(request, "alerts/_preview.html", _chart_context(result))


@router.post("/alert-rules/suggest", name="alert_rule_suggest_form")
def suggest_form(
    request: Request, session: SessionDep, user: CurrentUser, form: FormFields
) -> Response:
    """*Suggest values*: the threshold field again, filled from the last 7 days."""
    values = form_values(form)
    try:
        found = _suggested(session, form)
    except FlowscopeError as exc:
        hint = f"No suggestion: {exc.message}"
    else:
        if found["threshold"] is None:
            hint = "No suggestion: the source has no values in the last 7 days."
        else:
            values["threshold"] = f"{found['threshold']:g}"
            hint = f"Suggested: {found['statistic']} of {found['samples']:,} samples (last 7 days)."
    return render(
        request, "alerts/rule_form.html", {"values": values, "hint": hint}, block="threshold"
    )


@router.get("/alert-rules/{rule_id}", name="alert_rule")
def rule_page(request: Request, session: SessionDep, user: CurrentUser, rule_id: Id) -> Response:
    row = service.get_rule(session, rule_id)
    rule = service.rule_of(row)
    context: dict[str, Any] = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "row": row,
        "rule": rule,
        "alerts": service.list_alerts(session, AlertFilter(rule=rule_id, limit=50)),
        "muted": service.silenced(session, rule_id, datetime.now(UTC)),
        "error": None,
    }
    try:
        context.update(_chart_context(preview(session, rule)))
    except FlowscopeError as exc:
        context["error"] = exc.message
    return render(request, "alerts/rule.html", context)
