"""Alert rules, the alerts they open, and silences.

A rule keeps its whole definition (`RuleIn` as JSON) in `spec` and copies what lists and the
evaluator filter on (flow, kpi, interval, enabled) into columns. One open alert per rule and
`by:` group is a unique index, not a convention: two evaluators racing cannot both open one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flowscope.db import Base


class AlertRule(Base):
    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the RuleIn, as JSON
    flow_slug: Mapped[str | None] = mapped_column(String(64), index=True)
    kpi: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(64))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the evaluator should look next, and when it last did.
    next_due_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # Samples of a single-number query, which cannot be recomputed for past intervals:
    # the last few as [[iso time, value], ...], newest last.
    recent: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_alert_rules_enabled_next_due_at", "enabled", "next_due_at"),)


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    group_key: Mapped[str] = mapped_column(Text, default="")  # canonical JSON of `group`
    group: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    severity: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[str] = mapped_column(Text, default="")
    samples: Mapped[list[Any]] = mapped_column(JSONB, default=list)  # the triggering samples
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # The interval whose sample opened it, then the one that resolved it: the evaluator only
    # counts samples after a resolution toward the next alert (as the backtest does).
    sample_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        Index(
            "uq_alerts_one_open_per_group",
            "rule_id",
            "group_key",
            unique=True,
            postgresql_where=text("state = 'open'"),
        ),
        Index("ix_alerts_rule_id_started_at", "rule_id", "started_at"),
        Index("ix_alerts_state_started_at", "state", "started_at"),
    )


class Silence(Base):
    """Mutes one rule (or every rule when `rule_id` is null) in `[starts_at, ends_at)`.
    A muted rule is still evaluated (its series and bounds stay current) but opens nothing."""

    __tablename__ = "alert_silences"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
