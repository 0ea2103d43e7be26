from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from flowscope.db import Base


class RetentionProvider(Base):
    """Retention of one event provider: its override and its horizon.

    `days`: how long its events are kept; null means the default (`FLOWSCOPE_RETENTION_DAYS`).
    `purged_before`: the latest cutoff a retention run has applied to the provider. It only
    ever moves forward, and ingest refuses events older than it, so an event deleted by
    retention can never be stored again, even after the retention is lengthened.
    """

    __tablename__ = "retention_providers"

    provider: Mapped[str] = mapped_column(String(256), primary_key=True)
    days: Mapped[int | None] = mapped_column(Integer, default=None)
    purged_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
