"""The automation form: posted fields ⇄ the API's JSON shape, so the form is validated by the
same `AutomationIn` and its errors name the same fields.

Actions are numbered fields (`a0_type`, `a0_url`, …). Buttons re-render the form from what was
posted (`op=add`, `remove-N`, `up-N`, `refresh` after a type change), so the form works without
JavaScript; HTMX only makes those round trips swap the form in place.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData

from flowscope.automations.schemas import MASK

ACTION_TYPES = ("http", "slack", "email", "fql", "ingest", "ticket")
TRIGGER_TYPES = ("alert", "schedule", "manual", "flow")
MAX_ACTIONS = 20
_INDEX = re.compile(r"^a(\d{1,2})_type$")


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _raw(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def _list(form: FormData, key: str) -> list[str]:
    return [part.strip() for part in _text(form, key).split(",") if part.strip()]


def _checked(form: FormData, key: str) -> list[str]:
    return [v for v in form.getlist(key) if isinstance(v, str)]


def _int_or_text(value: str) -> int | str:
    return int(value) if value.isdigit() else value  # a non-number reaches the validator


def _headers(form: FormData, key: str, secret: bool) -> list[dict[str, Any]]:
    headers = []
    for line in _raw(form, key).splitlines():
        if not line.strip():
            continue
        name, _, value = line.partition(":")
        value = value.strip()
        headers.append(
            {
                "name": name.strip(),
                "value": None if secret and value == MASK else value,
                "secret": secret,
            }
        )
    return headers


def _trigger(form: FormData) -> dict[str, Any]:
    kind = _text(form, "trigger_type") or "manual"
    if kind == "alert":
        return {
            "type": "alert",
            "rules": [_int_or_text(r) for r in _list(form, "alert_rules")],
            "flows": _list(form, "alert_flows"),
            "severities": _checked(form, "alert_severities"),
            "on": _checked(form, "alert_on"),
        }
    if kind == "schedule":
        every = _text(form, "schedule_every")
        return {
            "type": "schedule",
            "cron": _text(form, "schedule_cron") or None,
            "every_seconds": _int_or_text(every) if every else None,
        }
    if kind == "flow":
        return {
            "type": "flow",
            "flow": _text(form, "flow_slug"),
            "on": _checked(form, "flow_on"),
            "steps": _list(form, "flow_steps"),
            "exceptions": _list(form, "flow_exceptions"),
        }
    return {"type": kind}


def _secret(form: FormData, key: str) -> str | None:
    value = _text(form, key)
    return None if not value or value == MASK else value


def _action(form: FormData, i: int) -> dict[str, Any]:
    p = f"a{i}_"
    kind = _text(form, p + "type")
    action: dict[str, Any] = {"type": kind, "when": _text(form, p + "when") or "succeeded"}
    if kind == "http":
        action |= {
            "method": _text(form, p + "method") or "POST",
            "url": _text(form, p + "url"),
            "headers": _headers(form, p + "headers", False)
            + _headers(form, p + "secret_headers", True),
            "body": _raw(form, p + "body"),
        }
    elif kind == "slack":
        action |= {"url": _secret(form, p + "url"), "text": _raw(form, p + "text")}
    elif kind == "email":
        action |= {
            "to": _list(form, p + "to"),
            "subject": _text(form, p + "subject"),
            "body": _raw(form, p + "body"),
        }
    elif kind == "fql":
        action |= {
            "query": _raw(form, p + "query"),
            "time_from": _text(form, p + "time_from") or "-1h",
            "max_rows": _int_or_text(_text(form, p + "max_rows") or "100"),
        }
    elif kind == "ingest":
        action |= {"event": _raw(form, p + "event")}
    elif kind == "ticket":
        action |= {
            "system": _text(form, p + "system") or "jira",
            "url": _text(form, p + "url"),
            "token": _secret(form, p + "token"),
            "project": _text(form, p + "project"),
            "issue_type": _text(form, p + "issue_type") or "Task",
            "summary": _text(form, p + "summary"),
            "description": _raw(form, p + "description"),
        }
    return action


def blank_action(kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "when": "succeeded"}


def from_form(form: FormData) -> tuple[dict[str, Any], str]:
    """The posted automation as API JSON, and the button pressed (`save` when none)."""
    indexes = sorted(
        int(m.group(1)) for key in form if (m := _INDEX.match(key)) and int(m.group(1)) < 50
    )
    data = {
        "name": _text(form, "name"),
        "enabled": form.get("enabled") == "on",
        "trigger": _trigger(form),
        "actions": [_action(form, i) for i in indexes],
    }
    return data, _text(form, "op") or "save"


def apply_op(data: dict[str, Any], op: str) -> bool:
    """Change the form's actions as the button asks; False when `op` is not an edit (save)."""
    actions: list[dict[str, Any]] = data["actions"]
    if op == "add":
        if len(actions) < MAX_ACTIONS:
            actions.append(blank_action())
        return True
    if op == "refresh":
        return True
    kind, _, index = op.partition("-")
    if kind in ("remove", "up") and index.isdigit() and int(index) < len(actions):
        i = int(index)
        if kind == "remove":
            del actions[i]
        elif i > 0:
            actions[i - 1], actions[i] = actions[i], actions[i - 1]
        return True
    return False


def describe_trigger(trigger: dict[str, Any]) -> str:
    kind = trigger.get("type")
    if kind == "alert":
        rules = ", ".join(f"#{r}" for r in trigger.get("rules", [])) or "any rule"
        return f"alert {' / '.join(trigger.get('on', []))} ({rules})"
    if kind == "schedule":
        if trigger.get("cron"):
            return f"cron {trigger['cron']} (UTC)"
        return f"every {trigger.get('every_seconds')} s"
    if kind == "flow":
        return f"flow {trigger.get('flow')}: {', '.join(trigger.get('on', []))}"
    return "manual (Run now)"
