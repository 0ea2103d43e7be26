"""Automations as YAML: export (secrets left out: `null`, the signing key never) and import
(create by name, or update the automation of that name keeping its stored secrets).

Uses the flows' YAML loader (`load_yaml`: size and depth limits, duplicate keys refused)."""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy.orm import Session

from flowscope.automations import service
from flowscope.automations.models import Automation
from flowscope.errors import FlowscopeError
from flowscope.flows.definitions.yaml_io import load_yaml

MAX_IMPORT = 200


def to_data(automation: Automation) -> dict[str, Any]:
    actions = service.public_actions(automation)
    for action in actions:  # the mask means nothing to an importer: leave secrets empty
        for key, value in list(action.items()):
            if value == service.MASK:
                action[key] = None
        for header in action.get("headers", []):
            if header.get("secret"):
                header["value"] = None
    return {
        "name": automation.name,
        "enabled": automation.enabled,
        "trigger": automation.trigger,
        "actions": actions,
    }


def export_yaml(automations: list[Automation]) -> str:
    data = {"automations": [to_data(a) for a in automations]}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


def import_yaml(
    session: Session, app_key: str, text: str | bytes, changed_by: str
) -> list[tuple[Automation, str | None]]:
    """Each automation of the document, and its signing secret when it was created."""
    data = load_yaml(text)
    items = data.get("automations") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise FlowscopeError("automations: the document needs a non-empty list `automations`")
    if len(items) > MAX_IMPORT:
        raise FlowscopeError(f"automations: at most {MAX_IMPORT} per document")
    existing = {a.name: a for a in service.list_automations(session)}
    done: list[tuple[Automation, str | None]] = []
    for i, item in enumerate(items):
        try:
            spec = service.parse(item)
        except service.InvalidAutomation as exc:
            raise service.InvalidAutomation(
                f"automations[{i}].{exc.message}", details=exc.details
            ) from None
        current = existing.get(spec.name)
        if current is not None:
            done.append(
                (service.update_automation(session, app_key, current.id, spec, changed_by), None)
            )
        else:
            done.append(service.create_automation(session, app_key, spec, changed_by))
    return done
