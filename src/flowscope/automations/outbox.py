"""Writing work for the dispatcher: a run, one pending step per action, and its outbox row,
all in the caller's transaction (the one that changes the state the run is about)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from flowscope.automations.models import (
    Automation,
    AutomationRun,
    AutomationRunStep,
    OutboxEntry,
)


def enqueue(
    session: Session, automation: Automation, trigger: str, data: dict[str, Any]
) -> AutomationRun:
    now = datetime.now(UTC)
    run = AutomationRun(
        automation_id=automation.id, trigger=trigger, data=data, status="pending", created_at=now
    )
    session.add(run)
    session.flush()
    session.add_all(
        AutomationRunStep(
            run_id=run.id,
            position=i,
            action_type=action["type"],
            status="pending",
            attempts=0,
            attempt_log=[],
        )
        for i, action in enumerate(automation.actions)
    )
    session.add(OutboxEntry(run_id=run.id, position=0, attempts=0, due_at=now))
    return run


def run_data(automation: Automation, trigger: str, **extra: Any) -> dict[str, Any]:
    """The templates' variables; `run` gets its id when the dispatcher renders."""
    data: dict[str, Any] = {
        "automation": {"id": automation.id, "name": automation.name},
        "trigger": trigger,
        "alert": None,
        "flow": None,
        "instance": None,
    }
    data.update(extra)
    return data
