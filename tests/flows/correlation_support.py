"""Helpers for the correlator tests: flows, events, draining the correlator, reading rows."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import correlate
from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.service import save_flow
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PROVIDER = "shop"


def make_flow(db: Database, **overrides: Any) -> FlowDefinition:
    data: dict[str, Any] = {
        "slug": "orders",
        "name": "Orders",
        "providers": [PROVIDER],
        "correlation": "order.id",
        "steps": [
            {"key": "placed", "name": "Placed", "events": [{"type": "order.placed"}]},
            {"key": "paid", "name": "Paid", "events": [{"type": "payment.captured"}]},
            {"key": "shipped", "name": "Shipped", "events": [{"type": "parcel.shipped"}]},
        ],
    }
    data.update(overrides)
    definition = FlowDefinition.model_validate(data)
    with transaction(db.sessions) as session:
        save_flow(session, definition, "test")
    return definition


def event(
    cid: str | None,
    type_: str,
    minutes: float = 0,
    *,
    provider: str = PROVIDER,
    event_id: str | None = None,
    attrs: dict[str, Any] | None = None,
    key: str = "order",
) -> NewEvent:
    attributes: dict[str, Any] = dict(attrs or {})
    if cid is not None:
        attributes.setdefault(key, {})["id"] = cid
    return NewEvent(
        provider=provider,
        event_id=event_id or uuid.uuid4().hex,
        type=type_,
        timestamp=T0 + timedelta(minutes=minutes),
        attributes=attributes,
    )


def ingest(db: Database, events: list[NewEvent]) -> None:
    with transaction(db.sessions) as session:
        store_events(session, events)


def caught_up(db: Database) -> bool:
    """No build is still backfilling, and no stored event is outside a ready build's snapshot.

    The builds are read first and the events asked per snapshot: on Citus a query may not
    join the (coordinator-local) builds with the (distributed) events."""
    with db.sessions() as session:
        building = session.scalar(text("select count(*) from flow_builds where state = 'building'"))
        snapshots = session.scalars(
            text("select snapshot from flow_builds where state = 'ready'")
        ).all()
        behind = any(
            session.scalar(
                text(
                    """
                    select exists (
                      select 1 from events e
                      where e.txid >= pg_snapshot_xmin(cast(:s as pg_snapshot))
                        and not pg_visible_in_snapshot(e.txid, cast(:s as pg_snapshot)))
                    """
                ),
                {"s": snapshot},
            )
            for snapshot in snapshots
        )
    return not building and not behind


def drain(db: Database, *, batch_size: int = 5000, timeout: float = 60.0) -> int:
    """Run the correlator until every stored event is correlated.

    The watermark waits for every older writing transaction on the server to end (other test
    runs share it), so this retries instead of assuming one run suffices.
    """
    deadline = time.monotonic() + timeout
    read = 0
    while True:
        with transaction(db.sessions) as session:
            read += correlate(session, batch_size=batch_size)
        if caught_up(db):
            return read
        if time.monotonic() > deadline:
            raise AssertionError("the correlator did not catch up within the timeout")
        time.sleep(0.02)


def instances(db: Database, slug: str = "orders") -> dict[str, dict[str, Any]]:
    """Instances of the flow's current build, by correlation id, with their steps."""
    with db.sessions() as session:
        rows = session.execute(
            text(
                """
                select i.* from flow_instances i
                where i.build_id = (
                  select b.id from flow_builds b join flows f on f.id = b.flow_id
                  where f.slug = :slug and b.state = 'ready' order by b.id desc limit 1)
                """
            ),
            {"slug": slug},
        ).mappings()
        result = {r["correlation_id"]: dict(r) for r in rows}
        steps = session.execute(
            text(
                """
                select s.* from flow_instance_steps s
                where s.build_id = (
                  select b.id from flow_builds b join flows f on f.id = b.flow_id
                  where f.slug = :slug and b.state = 'ready' order by b.id desc limit 1)
                """
            ),
            {"slug": slug},
        ).mappings()
        for row in steps:
            result[row["correlation_id"]].setdefault("steps", {})[row["step"]] = dict(row)
        definition = session.scalar(
            text(
                """
                select v.definition from flow_builds b
                join flows f on f.id = b.flow_id
                join flow_versions v on v.flow_id = b.flow_id and v.version = b.version
                where f.slug = :slug and b.state = 'ready' order by b.id desc limit 1
                """
            ),
            {"slug": slug},
        )
    if definition is None:
        return result
    flow = CompiledFlow.compile(
        FlowDefinition.model_validate(definition), build_id=0, flow_id=0, version=0
    )
    for r in result.values():
        r.pop("build_id")
        r["skipped_steps"], r["out_of_order"] = flow.deviations(r["variant"])
    return result


def comparable(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`instances(...)` without the build ids in the step rows: two builds' rows compare."""
    for row in rows.values():
        for step in row.get("steps", {}).values():
            step.pop("build_id", None)
    return rows
