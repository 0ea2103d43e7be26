"""Automations, their runs (one row per action: the run's steps) and the outbox.

The outbox holds one row per unfinished run: the position of the next action and when it is
due. A trigger writes the run, its steps and the outbox row in the transaction of the state
change that caused it; the dispatcher deletes the row when the last action is done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flowscope.db import Base


class Automation(Base):
    """`trigger` and `actions` are the validated JSON of `schemas.TriggerIn` / `ActionIn`
    with every secret value removed; the secrets live encrypted in `secrets`, keyed by their
    place (`"0.headers.Authorization"`, `"1.url"`), and the signing key in `signing_key`."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONB)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    secrets: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    signing_key: Mapped[str] = mapped_column(Text)  # Fernet token of the HMAC key
    # Flow-instance triggers: instances whose state changed before this were looked at.
    scanned_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(64))


class AutomationRun(Base):
    """One execution. `status`: pending → running → succeeded | failed."""

    __tablename__ = "automation_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))  # alert, schedule, manual, flow
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the templates' variables
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (Index("ix_automation_runs_automation_id_id", "automation_id", "id"),)


class AutomationRunStep(Base):
    """One action of a run. `status`: pending, retrying, succeeded, failed, skipped.
    `request` is the rendered input with secrets masked; `attempt_log` one entry per try."""

    __tablename__ = "automation_run_steps"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("automation_runs.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    request: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    response_excerpt: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[Any] = mapped_column(
        JSONB, nullable=True, default=None
    )  # what `previous.result` sees
    duration_ms: Mapped[float | None] = mapped_column(Float, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class OutboxEntry(Base):
    """A run's next action to send: `position` of the action, due at `due_at`."""

    __tablename__ = "automation_outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("automation_runs.id", ondelete="CASCADE"), unique=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # of the action at `position`
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_automation_outbox_due_at", "due_at"),)


class InstanceMark(Base):
    """A flow instance an automation already fired for, per kind: the primary key makes the
    flow-instance trigger fire once per instance, however often the scanner sees it."""

    __tablename__ = "automation_instance_marks"

    automation_id: Mapped[int] = mapped_column(
        ForeignKey("automations.id", ondelete="CASCADE"), primary_key=True
    )
    flow_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    correlation_id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
