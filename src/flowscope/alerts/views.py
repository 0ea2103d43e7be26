"""Alert pages: the Alerts page (open alerts, history, filters, silences, rules), one alert,
acknowledging and silencing. Editors may change rules and silences (`EditorUser`), as they
may edit flows; every signed-in user may look.

Also the template globals the navigation badge and the flow page's KPI cards use.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError

from flowscope.alerts import service
from flowscope.alerts.models import Alert, AlertRule
from flowscope.alerts.schemas import KPI_LABELS, Id, SilenceIn
from flowscope.alerts.service import AlertFilter, InvalidRule
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.deps import CurrentUser, EditorUser, SessionDep, verify_csrf
from flowscope.web import redirect, render, templates

log = logging.getLogger(__name__)

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

SILENCE_CHOICES = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(days=1)}


def _db(request: Request) -> Database | None:
    return getattr(request.app.state, "db", None)


def open_alert_count(request: Request) -> int:
    """The navigation badge: open alerts (one indexed count per page). An error page shown
    because the database is away must still render: then no badge."""
    db = _db(request)
    if db is None:
        return 0
    try:
        with db.sessions() as session:
            return service.open_count(session)
    except SQLAlchemyError:
        log.warning("open alert count unavailable", exc_info=True)
        return 0


def flow_alerts(request: Request, slug: str) -> dict[str, Any]:
    """A flow page's open alerts, and their count per KPI for its cards."""
    db = _db(request)
    if db is None:
        return {"open": [], "by_kpi": {}}
    with db.sessions() as session:
        rows = service.list_alerts(session, AlertFilter(state="open", flow=slug, limit=20))
        return {"open": rows, "by_kpi": service.open_by_kpi(session, slug)}


templates.env.globals["open_alert_count"] = open_alert_count
templates.env.globals["flow_alerts"] = flow_alerts
templates.env.globals["kpi_label"] = lambda kpi: KPI_LABELS.get(kpi, kpi)


@router.get("/alerts", name="alerts")
def alerts_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    state: Literal["open", "resolved", ""] = "",
    rule: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    flow: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    rules = service.list_rules(session)
    filters = AlertFilter(state or None, rule, flow or None, limit=200)
    context = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "alerts": service.list_alerts(session, filters),
        "filters": {"state": state, "rule": rule, "flow": flow},
        "rules": rules,
        "open_counts": service.open_counts_by_rule(session),
        "flows": sorted({r.flow_slug for r in rules if r.flow_slug}),
        "silences": service.list_silences(session),
        "rule_names": {r.id: r.name for r in rules},
        "now": datetime.now(UTC),
    }
    return render(request, "alerts/list.html", context)


@router.get("/alerts/{alert_id}", name="alert")
def alert_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    alert_id: Id,
) -> Response:
    alert, rule = service.get_alert(session, alert_id)
    context = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "alert": alert,
        "rule": rule,
        "links": _links(request, alert, rule),
    }
    return render(request, "alerts/alert.html", context)


def _links(request: Request, alert: Alert, rule: AlertRule) -> dict[str, str | None]:
    """The flow page at the alert's window, or the rule's query in the notebook."""
    spec = service.rule_of(rule)
    source = spec.model_dump()["source"]
    flow = notebook = None
    if rule.flow_slug:
        first = alert.samples[0]["at"] if alert.samples else alert.started_at.isoformat()
        start = datetime.fromisoformat(first)
        end = alert.ended_at or datetime.now(UTC)
        frame = (
            f"range=custom&from={start:%Y-%m-%dT%H:%M}"
            f"&to={(end + timedelta(minutes=1)).astimezone(UTC):%Y-%m-%dT%H:%M}"
        )
        flow = f"{request.url_for('flow', slug=rule.flow_slug).path}?{frame}"
    elif "query" in source:
        notebook = str(request.url_for("notebook").include_query_params(q=source["query"]))
    return {"flow": flow, "notebook": notebook}


@router.post("/alerts/{alert_id}/acknowledge", name="alert_acknowledge")
def acknowledge(request: Request, session: SessionDep, user: EditorUser, alert_id: Id) -> Response:
    service.acknowledge(session, alert_id, user.username)
    return redirect(request, request.url_for("alert", alert_id=alert_id).path)


@router.post("/alert-silences", name="alert_silence_create")
def create_silence(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    duration: Annotated[str, Form()],
    rule: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    span = SILENCE_CHOICES.get(duration)
    if span is None:
        raise InvalidRule("duration", f"must be one of {', '.join(SILENCE_CHOICES)}")
    if rule and not rule.isdigit():
        raise InvalidRule("rule", "must be a rule id")
    now = datetime.now(UTC)
    silence = SilenceIn(rule=int(rule) if rule else None, ends_at=now + span, reason=reason)
    service.add_silence(session, silence, user.username, now=now)
    return redirect(request, request.url_for("alerts").path)


@router.post("/alert-silences/{silence_id}/delete", name="alert_silence_delete")
def delete_silence(
    request: Request, session: SessionDep, user: EditorUser, silence_id: Id
) -> Response:
    service.delete_silence(session, silence_id, user.username)
    return redirect(request, request.url_for("alerts").path)
