"""JSON API of alert rules, alerts and silences.

Reads: an `events:read` token or a signed-in viewer. Writes: an `admin` token, or a signed-in
editor with the session's CSRF token (the same rule as flow definitions). Bodies are checked
by `RuleIn`: an unknown or misspelt field is a 422 naming it, and nothing changes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from flowscope.alerts import service, yaml_io
from flowscope.alerts.api_schemas import (
    AlertOut,
    Created,
    ImportOut,
    PreviewOut,
    RuleOut,
    SilenceOut,
    SuggestOut,
)
from flowscope.alerts.models import Alert, AlertRule, Silence
from flowscope.alerts.preview import preview, suggest
from flowscope.alerts.schemas import Id
from flowscope.alerts.service import AlertFilter
from flowscope.auth.models import ApiToken, User
from flowscope.deps import LimitedBody, SessionDep, SettingsDep
from flowscope.flows.definitions.api import Reader, Writer
from flowscope.params import check_storable

router = APIRouter(prefix="/api/v1", tags=["alerts"])

RuleId = Annotated[int, Query(ge=1, le=2**63 - 1)]


def who(principal: ApiToken | User) -> str:
    return principal.username if isinstance(principal, User) else f"token:{principal.name}"


def rule_out(row: AlertRule, open_alerts: int | None = None) -> dict[str, Any]:
    out = {
        "id": row.id,
        **row.spec,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "updated_by": row.updated_by,
        "evaluated_at": row.evaluated_at.isoformat() if row.evaluated_at else None,
        "last_error": row.last_error,
    }
    if open_alerts is not None:
        out["open_alerts"] = open_alerts
    return out


def alert_out(alert: Alert, rule: AlertRule) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule": {"id": rule.id, "name": rule.name, "flow": rule.flow_slug, "kpi": rule.kpi},
        "state": alert.state,
        "severity": alert.severity,
        "group": alert.group,
        "threshold": alert.threshold,
        "samples": alert.samples,
        "started_at": alert.started_at.isoformat(),
        "ended_at": alert.ended_at.isoformat() if alert.ended_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
    }


def silence_out(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "rule": silence.rule_id,
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "reason": silence.reason,
        "created_by": silence.created_by,
    }


@router.post("/alert-rules", name="api_create_alert_rule", status_code=201, response_model=Created)
def create_rule(
    body: dict[str, Any], session: SessionDep, settings: SettingsDep, writer: Writer
) -> dict[str, Any]:
    check_storable(body)
    rule = service.parse_rule(body)
    row = service.create_rule(session, rule, who(writer), settings.alert_min_interval_seconds)
    return {"id": row.id}


@router.get("/alert-rules", name="api_alert_rules", response_model=list[RuleOut])
def list_rules(
    session: SessionDep,
    reader: Reader,
    flow: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    counts = service.open_counts_by_rule(session)
    return [rule_out(r, counts.get(r.id, 0)) for r in service.list_rules(session, flow)]


@router.get(
    "/alert-rules/export",
    name="api_export_alert_rules",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}}},
)
def export_rules(session: SessionDep, reader: Reader) -> Response:
    """Every rule as YAML (`flowscope`'s own format; import it with POST …/import)."""
    return Response(
        yaml_io.export_rules(service.list_rules(session)),
        media_type="application/yaml",
        headers={"Content-Disposition": 'attachment; filename="alert-rules.yaml"'},
    )


@router.post("/alert-rules/import", name="api_import_alert_rules", response_model=ImportOut)
def import_rules(
    body: LimitedBody, session: SessionDep, settings: SettingsDep, writer: Writer
) -> dict[str, Any]:
    """Rules from YAML: a rule with the name of an existing one replaces it, others are
    added; all or nothing."""
    created, updated = yaml_io.import_rules(
        session, body, who(writer), settings.alert_min_interval_seconds
    )
    return {"created": created, "updated": updated}


@router.post(
    "/alert-rules/preview", name="api_preview_unsaved_alert_rule", response_model=PreviewOut
)
def preview_unsaved(body: dict[str, Any], session: SessionDep, reader: Reader) -> dict[str, Any]:
    """The backtest of a rule that is not saved (the form's live preview)."""
    check_storable(body)
    return preview(session, service.parse_rule(body)).as_dict()


@router.post("/alert-rules/suggest", name="api_suggest_alert_threshold", response_model=SuggestOut)
def suggest_threshold(body: dict[str, Any], session: SessionDep, reader: Reader) -> dict[str, Any]:
    """Suggest a static threshold from the last 7 days of the rule's source."""
    check_storable(body)
    return suggest(session, service.parse_rule(body))


@router.get("/alert-rules/{rule_id}", name="api_alert_rule", response_model=RuleOut)
def get_rule(rule_id: Id, session: SessionDep, reader: Reader) -> dict[str, Any]:
    row = service.get_rule(session, rule_id)
    return rule_out(row, service.open_counts_by_rule(session).get(row.id, 0))


@router.put("/alert-rules/{rule_id}", name="api_put_alert_rule", response_model=RuleOut)
def put_rule(
    rule_id: Id,
    body: dict[str, Any],
    session: SessionDep,
    settings: SettingsDep,
    writer: Writer,
) -> dict[str, Any]:
    check_storable(body)
    rule = service.parse_rule(body)
    row = service.update_rule(
        session, rule_id, rule, who(writer), settings.alert_min_interval_seconds
    )
    return rule_out(row)


@router.delete(
    "/alert-rules/{rule_id}",
    name="api_delete_alert_rule",
    status_code=204,
    response_class=Response,
)
def delete_rule(rule_id: Id, session: SessionDep, writer: Writer) -> Response:
    service.delete_rule(session, rule_id, who(writer))
    return Response(status_code=204)


@router.get(
    "/alert-rules/{rule_id}/preview", name="api_preview_alert_rule", response_model=PreviewOut
)
def preview_rule(rule_id: Id, session: SessionDep, reader: Reader) -> dict[str, Any]:
    """The rule's source over the last 7 days, its threshold or band, and where it would
    have opened and resolved alerts."""
    row = service.get_rule(session, rule_id)
    return preview(session, service.rule_of(row)).as_dict()


@router.get("/alerts", name="api_alerts", response_model=list[AlertOut])
def list_alerts(
    session: SessionDep,
    reader: Reader,
    state: Literal["open", "resolved"] | None = None,
    rule: RuleId | None = None,
    flow: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_ALERTS)] = 100,
) -> list[dict[str, Any]]:
    rows = service.list_alerts(session, AlertFilter(state, rule, flow, limit))
    return [alert_out(a, r) for a, r in rows]


@router.get("/alerts/{alert_id}", name="api_alert", response_model=AlertOut)
def get_alert(alert_id: Id, session: SessionDep, reader: Reader) -> dict[str, Any]:
    return alert_out(*service.get_alert(session, alert_id))


@router.post(
    "/alerts/{alert_id}/acknowledge", name="api_acknowledge_alert", response_model=AlertOut
)
def acknowledge(alert_id: Id, session: SessionDep, writer: Writer) -> dict[str, Any]:
    service.acknowledge(session, alert_id, who(writer))
    return alert_out(*service.get_alert(session, alert_id))


@router.get("/alert-silences", name="api_alert_silences", response_model=list[SilenceOut])
def list_silences(session: SessionDep, reader: Reader) -> list[dict[str, Any]]:
    return [silence_out(s) for s in service.list_silences(session)]


@router.post(
    "/alert-silences",
    name="api_create_alert_silence",
    status_code=201,
    response_model=SilenceOut,
)
def create_silence(body: dict[str, Any], session: SessionDep, writer: Writer) -> dict[str, Any]:
    check_storable(body)
    silence = service.parse_silence(body)
    row = service.add_silence(session, silence, who(writer))
    return silence_out(row)


@router.delete(
    "/alert-silences/{silence_id}",
    name="api_delete_alert_silence",
    status_code=204,
    response_class=Response,
)
def delete_silence(silence_id: Id, session: SessionDep, writer: Writer) -> Response:
    service.delete_silence(session, silence_id, who(writer))
    return Response(status_code=204)
