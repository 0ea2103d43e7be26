from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flowscope.db import Base


class Generator(Base):
    """A configured generator. `source` is the YAML as the editor wrote it (comments kept);
    `config` is its validated form. `generated_until` is the end of the last generated window:
    flows starting after it are not generated yet."""

    __tablename__ = "generators"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    generated_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(64))


class GeneratorRun(Base):
    """One run: `finished_at` is empty while it runs; `error` is set when it failed."""

    __tablename__ = "generator_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    generator_id: Mapped[int] = mapped_column(ForeignKey("generators.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    events_written: Mapped[int] = mapped_column(Integer, default=0)
    pending_added: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        Index("ix_generator_runs_generator_id_started_at", "generator_id", "started_at"),
    )


class PendingEvent(Base):
    """A future event of an in-flight flow, written to `events` once its time has come.

    Never stored in `events` early: queries, KPIs and the correlator only ever see the past.
    """

    __tablename__ = "generator_pending"

    generator_id: Mapped[int] = mapped_column(
        ForeignKey("generators.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    provider: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(256))
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_generator_pending_generator_id_timestamp", "generator_id", "timestamp"),
    )
