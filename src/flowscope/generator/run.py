"""One generator run: write the pending events that became due, then the flows started since the
last run (or the backfill), keeping their future events pending. Takes `now` as a parameter, so
tests move the clock, and never writes an event later than `now`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flowscope.errors import FlowscopeError
from flowscope.generator.engine import GeneratedEvent, flows_in_window
from flowscope.generator.flowdef import FlowCreatedHook, ensure_flow
from flowscope.generator.models import Generator, PendingEvent
from flowscope.generator.schemas import GeneratorConfig
from flowscope.ingest.models import Event
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.ingest.validation import Invalid, Limits, from_json_object

# Events are stored in batches of this size so that a 30-day backfill never sits in memory.
BATCH = 20_000
_MAX_DEPTH = 32


@dataclass
class RunOutcome:
    window_start: datetime
    window_end: datetime
    backfilled: bool
    written: int = 0
    duplicates: int = 0
    pending_added: int = 0
    flow_created: bool = False


def config_of(generator: Generator) -> GeneratorConfig:
    return GeneratorConfig.model_validate(generator.config)


def provider_has_events(session: Session, provider: str) -> bool:
    return bool(session.scalar(select(exists().where(Event.provider == provider))))


def _as_new_event(event: PendingEvent | GeneratedEvent, limits: Limits) -> NewEvent:
    """Through the same validation as events posted over HTTP, with no tolerance for the
    future: a generated event later than the run's `now` is a bug and fails the run."""
    body: dict[str, Any] = {
        **event.attributes,
        "event.provider": event.provider,
        "event.type": event.type,
        "event.id": event.event_id,
        "timestamp": event.timestamp.isoformat(),
    }
    try:
        return from_json_object(body, limits)
    except Invalid as exc:
        raise FlowscopeError(
            f"generated event {event.event_id}: {exc.field} {exc.message}"
        ) from exc


def _store(session: Session, events: list[NewEvent], outcome: RunOutcome) -> None:
    # In time order, as an application would have sent them (ingest order breaks time ties).
    events.sort(key=lambda e: e.timestamp)
    stored, duplicates = store_events(session, events)
    outcome.written += stored
    outcome.duplicates += duplicates
    events.clear()


def _add_pending(session: Session, generator_id: int, events: Iterable[GeneratedEvent]) -> int:
    rows = [
        {
            "generator_id": generator_id,
            "event_id": e.event_id,
            "provider": e.provider,
            "type": e.type,
            "timestamp": e.timestamp,
            "attributes": e.attributes,
        }
        for e in events
    ]
    if not rows:
        return 0
    # A window generated again (`flowscope generate --hours`) finds its future events pending
    # already: keep the one copy.
    statement = insert(PendingEvent).on_conflict_do_nothing().returning(PendingEvent.event_id)
    return len(session.execute(statement, rows).all())


def window_start(
    session: Session, generator: Generator, config: GeneratorConfig, now: datetime
) -> tuple[datetime, bool]:
    """Where this run's window of flow starts begins, and whether it is a backfill.

    A generator that never ran backfills its history only when its provider has no events
    yet (the data identifies the provider: a second generator on it, or one re-created after
    deletion, must not write a second history). A generator that was off for a while catches
    up at most `backfill` of the gap.
    """
    if generator.generated_until is not None:
        return max(generator.generated_until, now - config.backfill), False
    if provider_has_events(session, config.provider):
        return now, False
    return now - config.backfill, True


def run_generator(
    session: Session,
    generator: Generator,
    now: datetime,
    *,
    since: datetime | None = None,
    on_flow_created: Sequence[FlowCreatedHook] = (),
) -> RunOutcome:
    """Generate up to `now`. `since` forces the window start (re-generating a window stores
    nothing twice: event ids are derived from seed, flow and step). `on_flow_created` runs when
    the run creates the generator's flow definition. Does not commit."""
    if now.tzinfo is None:
        raise FlowscopeError("now: must be timezone-aware")
    config = config_of(generator)
    if since is None:
        start, backfilled = window_start(session, generator, config, now)
    else:
        start, backfilled = since, False
    outcome = RunOutcome(window_start=start, window_end=now, backfilled=backfilled)
    outcome.flow_created = ensure_flow(session, config, on_flow_created)
    limits = Limits(now=now, max_future=timedelta(0), max_depth=_MAX_DEPTH, check_strings=True)

    batch: list[NewEvent] = []
    due = session.scalars(
        delete(PendingEvent)
        .where(PendingEvent.generator_id == generator.id, PendingEvent.timestamp <= now)
        .returning(PendingEvent)
    ).all()
    for pending in sorted(due, key=lambda p: p.timestamp):
        batch.append(_as_new_event(pending, limits))
    future: list[GeneratedEvent] = []
    for flow in flows_in_window(config, start, now):
        for event in flow:
            if event.timestamp <= now:
                batch.append(_as_new_event(event, limits))
            else:
                future.append(event)
        if len(batch) >= BATCH:
            _store(session, batch, outcome)
    _store(session, batch, outcome)
    outcome.pending_added = _add_pending(session, generator.id, future)
    if generator.generated_until is None or generator.generated_until < now:
        generator.generated_until = now
    session.flush()
    return outcome
