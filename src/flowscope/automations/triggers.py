"""What starts a run: an alert transition (the alerts domain's hook), Run now, a schedule,
and flow instances that dropped, stalled or hit a business exception (`flow_scan`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.alerts.transitions import AlertTransition
from flowscope.automations.models import Automation, AutomationRun
from flowscope.automations.outbox import enqueue, run_data


def _alert_matches(trigger: dict[str, Any], transition: AlertTransition) -> bool:
    return (
        transition.change in trigger["on"]
        and (not trigger["rules"] or transition.rule_id in trigger["rules"])
        and (not trigger["flows"] or transition.flow in trigger["flows"])
        and (not trigger["severities"] or transition.severity in trigger["severities"])
    )


def on_alert_transition(session: Session, transition: AlertTransition) -> None:
    """The `AlertHook`: a run for every enabled automation whose alert trigger matches,
    written in the evaluator's transaction (no commit here)."""
    automations = session.scalars(
        select(Automation)
        .where(Automation.enabled, Automation.trigger["type"].astext == "alert")
        .order_by(Automation.id)
    ).all()
    alert = transition.as_template_data()
    for automation in automations:
        if _alert_matches(automation.trigger, transition):
            enqueue(
                session,
                automation,
                "alert",
                run_data(automation, "alert", alert=alert, flow={"slug": transition.flow}),
            )


def run_now(session: Session, automation: Automation) -> AutomationRun:
    """Manual *Run now*: any automation, enabled or not."""
    return enqueue(
        session,
        automation,
        "manual",
        run_data(automation, "manual", at=datetime.now(UTC).isoformat()),
    )


def run_scheduled(session: Session, automation_id: int) -> AutomationRun | None:
    automation = session.get(Automation, automation_id)
    if automation is None or not automation.enabled:
        return None  # disabled or deleted since the scheduler last looked
    if automation.trigger.get("type") != "schedule":
        return None
    return enqueue(
        session,
        automation,
        "schedule",
        run_data(automation, "schedule", at=datetime.now(UTC).isoformat()),
    )
