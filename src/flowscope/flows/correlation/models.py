from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flowscope.db import Base

# --- Correlation results ---------------------------------------------------------------------
#
# Results are kept per *build*: one build is one flow definition version correlated from the
# stored events. Readers use the newest `ready` build of a flow, so a rebuild after an edit
# fills a new build while the old one stays readable, and the switch is one row update.
# The result tables carry `build_id` without a foreign key on purpose: they take thousands of
# rows a second and a per-row FK check (and a per-row cascade when a build is purged) costs
# more than it protects; the correlator is their only writer and purges retired builds itself.


class FlowBuild(Base):
    """One generation of correlation results for one version of a flow definition.

    `state`: `building` (backfilling stored events, progress in `events_done`/`events_total`),
    `ready` (the newest ready build is what readers see), `retired` (superseded; its rows are
    purged). Position: the backfill reads the events visible in the `horizon` snapshot in
    `seq` order up to `backfill_seq`; after that `snapshot` is the transaction snapshot whose
    visible events the results include (see `flowscope.flows.correlator`).

    A rebuild's backfill stores memberships only; instance rows are then computed once per
    correlation id, in `correlation_id` order from `materialize_from` on, until `materialized`
    (see `flowscope.flows.correlation.backfill`). `snapshot_at` is when `snapshot` was taken:
    every event committed before it is in the results ("results as of").
    """

    __tablename__ = "flow_builds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="building")
    horizon: Mapped[str] = mapped_column(Text)  # a pg_snapshot as text: xmin:xmax:xip,…
    backfill_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    backfill_done: Mapped[bool] = mapped_column(Boolean, default=False)
    snapshot: Mapped[str] = mapped_column(Text)
    events_total: Mapped[int] = mapped_column(BigInteger, default=0)
    events_done: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    purged: Mapped[bool] = mapped_column(Boolean, default=False)
    materialized: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    materialize_from: Mapped[str | None] = mapped_column(Text, default=None)
    snapshot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (Index("ix_flow_builds_flow_id_state", "flow_id", "state"),)


class FlowEvent(Base):
    """Membership: event `seq` belongs to instance `correlation_id` at `step`.

    The correlated truth: instances are recomputed from these rows only, never from arrival
    order. Captured property values and the revenue value are extracted once here so a
    recompute does not read the events' attributes again.
    """

    __tablename__ = "flow_events"

    build_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    correlation_id: Mapped[str] = mapped_column(Text, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    step: Mapped[str] = mapped_column(String(64))
    exception: Mapped[str | None] = mapped_column(String(128), default=None)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    revenue: Mapped[Decimal | None] = mapped_column(Numeric, default=None)

    # Retention deletes the memberships of the events it deletes (migration 0014).
    __table_args__ = (Index("ix_flow_events_seq", "seq"),)


class FlowInstance(Base):
    """One unique flow: everything the analysis pages filter, sort and count on.

    `stall_at`/`drop_at` are `last_event_at` plus the timeouts of the current step, so the
    time-dependent state is a comparison with "now" at read time (`flowscope.flows.states`).
    """

    __tablename__ = "flow_instances"

    build_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    correlation_id: Mapped[str] = mapped_column(Text, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float] = mapped_column(Float)
    event_count: Mapped[int] = mapped_column(Integer)
    current_step: Mapped[str] = mapped_column(String(64))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stall_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    drop_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    has_exception: Mapped[bool] = mapped_column(Boolean)
    exception_step: Mapped[str | None] = mapped_column(String(64))
    exception_name: Mapped[str | None] = mapped_column(String(128))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB)
    revenue: Mapped[Decimal | None] = mapped_column(Numeric)
    # The step sequence; conformance to the edges is a function of it alone, so it is
    # judged per distinct variant at read time rather than stored per instance.
    variant: Mapped[list[str]] = mapped_column(ARRAY(Text))

    __table_args__ = (
        # Covering: the KPI and state counts of a timeframe are index-only scans (0007).
        Index(
            "ix_flow_instances_build_id_started_at",
            "build_id",
            "started_at",
            postgresql_include=[
                "correlation_id",
                "completed_at",
                "has_exception",
                "revenue",
                "duration_s",
                "stall_at",
                "drop_at",
                "current_step",
            ],
        ),
        Index(
            "ix_flow_instances_build_id_last_event_at",
            "build_id",
            "last_event_at",
            "correlation_id",
        ),
        # The open instances whose deadline falls in the current hour (rollups, 0012).
        Index(
            "ix_flow_instances_open_stall_at",
            "build_id",
            "stall_at",
            postgresql_where=text("completed_at is null"),
        ),
        Index(
            "ix_flow_instances_open_drop_at",
            "build_id",
            "drop_at",
            postgresql_where=text("completed_at is null"),
        ),
    )


class FlowInstanceStep(Base):
    """Per instance and step reached: first and last time, how often, the first exception."""

    __tablename__ = "flow_instance_steps"

    build_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    correlation_id: Mapped[str] = mapped_column(Text, primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)
    exception: Mapped[str | None] = mapped_column(String(128))
    # The instance's start, copied so a timeframe's step counts need no join to find their rows.
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    # (build_id, started_at): the alert series' step counts per interval
    __table_args__ = (
        Index(
            "ix_flow_instance_steps_build_id_started_at",
            "build_id",
            "started_at",
            postgresql_include=["correlation_id", "step", "exception"],
        ),
    )


class FlowTransition(Base):
    """Consecutive events of an instance (by time): step `source` → `target` after `delay_s`."""

    __tablename__ = "flow_transitions"

    build_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    correlation_id: Mapped[str] = mapped_column(Text, primary_key=True)
    ord: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    delay_s: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the instance's start
    # Read by primary key only (per instance); a timeframe's edges and delays are rollups
    # (migration 0016 dropped the (build_id, started_at) index they were counted from).


class FlowRollup(Base):
    """Counts, sums and sketch buckets of a build's instances per hour (`grain` 'h') and day
    ('d') of their start: the flow page reads these instead of the instances. What each
    `kind` holds and how it stays equal to a from-scratch aggregation: see
    `flowscope.flows.correlation.rollups`."""

    __tablename__ = "flow_rollups"

    build_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    d1: Mapped[str] = mapped_column(Text, primary_key=True)
    d2: Mapped[str] = mapped_column(Text, primary_key=True)
    stall_hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    drop_hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[Decimal] = mapped_column(Numeric)
    # A sketch (kinds `duration`, `delay`) as sorted bucket keys and their counts; else empty.
    skeys: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    scounts: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
