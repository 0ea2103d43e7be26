"""Automations: create, change, delete, list, and their run history. Takes a session, never
commits; every change goes to the audit log."""

from __future__ import annotations

import secrets as token_source
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.automations import secrets, templating
from flowscope.automations.models import Automation, AutomationRun, AutomationRunStep
from flowscope.automations.schemas import MASK, AutomationIn

__all__ = ["MASK"]
from flowscope.errors import Conflict, FlowscopeError, NotFound

MAX_RUNS = 200

# Template fields per action type, checked for syntax when saved.
TEMPLATE_FIELDS = {
    "http": ("url", "body"),
    "slack": ("text",),
    "email": ("subject", "body"),
    "fql": ("query",),
    "ingest": ("event",),
    "ticket": ("url", "summary", "description"),
}


class InvalidAutomation(FlowscopeError):
    status_code = 422
    code = "invalid_automation"


def parse(data: Any) -> AutomationIn:
    """Validate a decoded JSON or YAML document; errors name the field and the reason."""
    try:
        spec = AutomationIn.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = problems[0]
        raise InvalidAutomation(f"{first['field']}: {first['message']}", details=problems) from None
    for i, action in enumerate(spec.actions):
        for name in TEMPLATE_FIELDS[action.type]:
            try:
                templating.check(f"actions.{i}.{name}", getattr(action, name))
            except templating.TemplateFailed as exc:
                raise InvalidAutomation(str(exc), details=[{"field": exc.field}]) from None
    return spec


def _secret_places(action: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(place inside the action, the value given) of each secret field of one action."""
    places: list[tuple[str, str | None]] = []
    if action["type"] == "http":
        places += [(f"headers.{h['name']}", h["value"]) for h in action["headers"] if h["secret"]]
    elif action["type"] == "slack":
        places.append(("url", action["url"]))
    elif action["type"] == "ticket":
        places.append(("token", action["token"]))
    return places


def _strip_secrets(action: dict[str, Any]) -> None:
    if action["type"] == "http":
        for header in action["headers"]:
            if header["secret"]:
                header["value"] = None
    elif action["type"] == "slack":
        action["url"] = None
    elif action["type"] == "ticket":
        action["token"] = None


def _seal(
    app_key: str, spec: AutomationIn, old: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The actions without secret values, and the encrypted secrets by place; a secret given
    as None or the mask keeps the stored value of the same place (action position + field)."""
    actions = [a.model_dump(mode="json") for a in spec.actions]
    sealed: dict[str, str] = {}
    for i, action in enumerate(actions):
        for place, value in _secret_places(action):
            key = f"{i}.{place}"
            if value is None or value == MASK:
                if key in old:
                    sealed[key] = old[key]
                elif action["type"] == "slack":
                    raise InvalidAutomation(f"actions.{i}.url: the webhook URL is required")
                elif action["type"] == "http":
                    raise InvalidAutomation(f"actions.{i}.{place}: a secret header needs a value")
            else:
                sealed[key] = secrets.encrypt(app_key, value)
        _strip_secrets(action)
    return actions, sealed


def public_actions(automation: Automation) -> list[dict[str, Any]]:
    """The actions as the API and pages show them: each stored secret as the mask."""
    shown = [dict(a) for a in automation.actions]
    for i, action in enumerate(shown):
        if action["type"] == "http":
            action["headers"] = [
                {**h, "value": MASK if f"{i}.headers.{h['name']}" in automation.secrets else None}
                if h["secret"]
                else h
                for h in action["headers"]
            ]
        elif action["type"] in ("slack", "ticket"):
            field = "url" if action["type"] == "slack" else "token"
            action[field] = MASK if f"{i}.{field}" in automation.secrets else None
    return shown


def unsealed_action(app_key: str, automation: Automation, position: int) -> dict[str, Any]:
    """One action with its secrets decrypted, for the dispatcher only."""
    action = dict(automation.actions[position])
    found = automation.secrets
    if action["type"] == "http":
        action["headers"] = [
            {**h, "value": secrets.decrypt(app_key, found[f"{position}.headers.{h['name']}"])}
            if h["secret"] and f"{position}.headers.{h['name']}" in found
            else h
            for h in action["headers"]
        ]
    elif action["type"] in ("slack", "ticket"):
        field = "url" if action["type"] == "slack" else "token"
        key = f"{position}.{field}"
        action[field] = secrets.decrypt(app_key, found[key]) if key in found else None
    return action


def signing_key(app_key: str, automation: Automation) -> str:
    return secrets.decrypt(app_key, automation.signing_key)


def list_automations(session: Session) -> Sequence[Automation]:
    return session.scalars(select(Automation).order_by(Automation.name)).all()


def get_automation(session: Session, automation_id: int, *, for_update: bool = False) -> Automation:
    query = select(Automation).where(Automation.id == automation_id)
    if for_update:
        query = query.with_for_update()
    automation = session.scalar(query)
    if automation is None:
        raise NotFound(f"no automation has id {automation_id}")
    return automation


def _flush_unique(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"name: an automation named {name!r} exists already") from None


def create_automation(
    session: Session, app_key: str, spec: AutomationIn, changed_by: str
) -> tuple[Automation, str]:
    """The new automation and its signing secret (returned here only, stored encrypted)."""
    actions, sealed = _seal(app_key, spec, {})
    key = token_source.token_urlsafe(32)
    now = datetime.now(UTC)
    automation = Automation(
        name=spec.name,
        enabled=spec.enabled,
        trigger=spec.trigger.model_dump(mode="json"),
        actions=actions,
        secrets=sealed,
        signing_key=secrets.encrypt(app_key, key),
        scanned_until=now,
        created_at=now,
        updated_at=now,
        updated_by=changed_by[:64],
    )
    session.add(automation)
    _flush_unique(session, spec.name)
    audit.record(session, "automation.created", f"automation:{automation.id}", {"name": spec.name})
    return automation, key


def update_automation(
    session: Session, app_key: str, automation_id: int, spec: AutomationIn, changed_by: str
) -> Automation:
    automation = get_automation(session, automation_id, for_update=True)
    actions, sealed = _seal(app_key, spec, automation.secrets)
    trigger = spec.trigger.model_dump(mode="json")
    if trigger != automation.trigger:
        # A new flow trigger starts looking from now, not at instances of the old one.
        automation.scanned_until = datetime.now(UTC)
    automation.name = spec.name
    automation.enabled = spec.enabled
    automation.trigger = trigger
    automation.actions = actions
    automation.secrets = sealed
    automation.updated_at = datetime.now(UTC)
    automation.updated_by = changed_by[:64]
    _flush_unique(session, spec.name)
    audit.record(session, "automation.updated", f"automation:{automation.id}", {"name": spec.name})
    return automation


def delete_automation(session: Session, automation_id: int) -> None:
    automation = get_automation(session, automation_id, for_update=True)
    audit.record(
        session, "automation.deleted", f"automation:{automation.id}", {"name": automation.name}
    )
    session.delete(automation)


def last_runs(session: Session) -> dict[int, AutomationRun]:
    """The newest run of each automation."""
    runs = session.scalars(
        select(AutomationRun)
        .distinct(AutomationRun.automation_id)
        .order_by(AutomationRun.automation_id, AutomationRun.id.desc())
    )
    return {run.automation_id: run for run in runs}


def audit_run(session: Session, automation: Automation) -> None:
    audit.record(
        session, "automation.run", f"automation:{automation.id}", {"name": automation.name}
    )


def runs_of(
    session: Session, automation_id: int, limit: int = 50
) -> list[tuple[AutomationRun, list[AutomationRunStep]]]:
    """Newest first, with their steps in order."""
    runs = session.scalars(
        select(AutomationRun)
        .where(AutomationRun.automation_id == automation_id)
        .order_by(AutomationRun.id.desc())
        .limit(min(limit, MAX_RUNS))
    ).all()
    steps: dict[int, list[AutomationRunStep]] = {run.id: [] for run in runs}
    if runs:
        for step in session.scalars(
            select(AutomationRunStep)
            .where(AutomationRunStep.run_id.in_(steps))
            .order_by(AutomationRunStep.run_id, AutomationRunStep.position)
        ):
            steps[step.run_id].append(step)
    return [(run, steps[run.id]) for run in runs]
