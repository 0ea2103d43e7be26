"""The dispatcher: sends what the outbox holds, one action at a time, at least once.

It claims the oldest due outbox row with `for update skip locked` and keeps that row lock for
the whole send, in one transaction with the step's record and the row's advance. A dispatcher
that dies mid-send (SIGKILL, power loss) drops its connection: PostgreSQL rolls the transaction
back and releases the lock, so the row is due again for the next dispatcher, which sends the
same action again with the same `Idempotency-Key` (derived from the run and the action's
position). Nothing is lost; a receiver that honours the key sees each notification once.

Runs as one scheduled job (`automations.dispatch`): the scheduler runs jobs in one process at
a time (its advisory lock); `skip locked` additionally makes a second dispatcher (a CLI, a
test) harmless: it takes other rows or none.

Retries: timeouts, connection errors, 408/425/429/5xx and SMTP 4xx are tried again after
`backoff × 2^(n−1)` seconds with equal jitter, or the Retry-After the receiver asked for,
at most `automation_backoff_max_seconds`, up to `automation_max_attempts` tries. Every try is
recorded in the step's `attempt_log`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.auth.keys import secret_key
from flowscope.automations import service
from flowscope.automations.actions import RUNNERS
from flowscope.automations.actions.base import Context, Outcome
from flowscope.automations.models import (
    Automation,
    AutomationRun,
    AutomationRunStep,
    OutboxEntry,
)
from flowscope.automations.secrets import SecretUnreadable
from flowscope.db import Database, transaction
from flowscope.settings import Settings

log = logging.getLogger(__name__)
_KEYS = uuid.UUID("6f1d7a52-4c8e-4b7a-9a57-0b2f3c9e5d11")


def idempotency_key(run_id: int, position: int) -> str:
    return str(uuid.uuid5(_KEYS, f"automation-run:{run_id}:action:{position}"))


def backoff(settings: Settings, attempts: int, retry_after: float | None) -> float:
    delay: float = settings.automation_backoff_seconds * 2.0 ** (attempts - 1)
    delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret
    if retry_after is not None:
        delay = max(delay, retry_after)
    return float(min(delay, settings.automation_backoff_max_seconds))


def _previous(steps: list[AutomationRunStep], position: int) -> AutomationRunStep | None:
    """The last action before `position` that ran (skipped ones do not count)."""
    for step in reversed(steps[:position]):
        if step.status in ("succeeded", "failed"):
            return step
    return None


def _should_run(when: str, previous: AutomationRunStep | None) -> bool:
    outcome = previous.status if previous is not None else "succeeded"
    return when == "always" or when == outcome


def _template_data(run: AutomationRun, previous: AutomationRunStep | None) -> dict[str, Any]:
    data = dict(run.data)
    data["run"] = {"id": run.id, "trigger": run.trigger, "created_at": run.created_at.isoformat()}
    data["previous"] = (
        None
        if previous is None
        else {
            "type": previous.action_type,
            "status": previous.status,
            "response_status": previous.response_status,
            "body": previous.response_excerpt,
            "result": previous.result,
            "error": previous.error,
        }
    )
    return data


def _finish_step(step: AutomationRunStep, outcome: Outcome, status: str) -> None:
    step.status = status
    step.request = outcome.request
    step.response_status = outcome.status
    step.response_excerpt = outcome.excerpt
    step.result = outcome.result
    step.error = outcome.error
    step.finished_at = datetime.now(UTC)


def _execute(
    session: Session,
    settings: Settings,
    app_key: str,
    automation: Automation,
    run: AutomationRun,
    step: AutomationRunStep,
    previous: AutomationRunStep | None,
) -> Outcome:
    try:
        action = service.unsealed_action(app_key, automation, step.position)
        ctx = Context(
            session=session,
            settings=settings,
            data=_template_data(run, previous),
            idempotency_key=idempotency_key(run.id, step.position),
            signing_key=service.signing_key(app_key, automation),
        )
    except SecretUnreadable as exc:
        return Outcome(ok=False, error=exc.message)
    try:
        return RUNNERS[action["type"]](ctx, action)
    except Exception as exc:  # a bug must fail this action, not stall the outbox behind it
        log.exception("automation action crashed", extra={"run": run.id, "step": step.position})
        return Outcome(ok=False, error=f"internal error: {type(exc).__name__}: {exc}")


def process(session: Session, settings: Settings, app_key: str, entry: OutboxEntry) -> None:
    """Do the action at `entry.position` (skipping those whose `when` does not hold), record
    it, and move the entry on (or due later for a retry, or away when the run is done)."""
    run = session.get_one(AutomationRun, entry.run_id)
    automation = session.get_one(Automation, run.automation_id)
    steps = list(
        session.scalars(
            select(AutomationRunStep)
            .where(AutomationRunStep.run_id == run.id)
            .order_by(AutomationRunStep.position)
        )
    )
    run.status = "running"
    while entry.position < len(steps):
        step = steps[entry.position]
        if entry.position >= len(automation.actions):
            step.status, step.error = "skipped", "the automation no longer has this action"
        else:
            previous = _previous(steps, entry.position)
            when = automation.actions[entry.position].get("when", "succeeded")
            if _should_run(when, previous):
                break
            step.status = "skipped"
        entry.position += 1
    else:
        _finish_run(session, run, steps, entry)
        return
    previous = _previous(steps, entry.position)
    started = time.perf_counter()
    outcome = _execute(session, settings, app_key, automation, run, step, previous)
    elapsed = (time.perf_counter() - started) * 1000
    step.attempts += 1
    step.duration_ms = round(elapsed, 3)
    step.attempt_log = [
        *step.attempt_log,
        {
            "at": datetime.now(UTC).isoformat(),
            "status": outcome.status,
            "error": outcome.error,
            "duration_ms": round(elapsed, 3),
        },
    ][-50:]
    if outcome.ok:
        _finish_step(step, outcome, "succeeded")
    elif outcome.retryable and step.attempts < settings.automation_max_attempts:
        delay = backoff(settings, step.attempts, outcome.retry_after)
        _finish_step(step, outcome, "retrying")
        step.finished_at = None
        entry.attempts = step.attempts
        entry.due_at = datetime.now(UTC) + timedelta(seconds=delay)
        return
    else:
        _finish_step(step, outcome, "failed")
    entry.position += 1
    entry.attempts = 0
    entry.due_at = datetime.now(UTC)
    if entry.position >= len(steps):
        _finish_run(session, run, steps, entry)


def _finish_run(
    session: Session, run: AutomationRun, steps: list[AutomationRunStep], entry: OutboxEntry
) -> None:
    run.status = "failed" if any(s.status == "failed" for s in steps) else "succeeded"
    run.finished_at = datetime.now(UTC)
    session.delete(entry)


def dispatch(db: Database, settings: Settings, *, budget_seconds: float = 30.0) -> int:
    """Send due actions until none is due or the budget is spent; returns how many rows were
    processed. Each in its own transaction, holding that row's lock while it sends."""
    done = 0
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        with transaction(db.sessions) as session:
            entry = session.scalar(
                select(OutboxEntry)
                .where(OutboxEntry.due_at <= datetime.now(UTC))
                .order_by(OutboxEntry.due_at, OutboxEntry.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if entry is None:
                return done
            process(session, settings, secret_key(settings, session), entry)
        done += 1
    return done
