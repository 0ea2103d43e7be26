from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from flowscope.db import Base


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id, used by the correlator's watermark."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


class Event(Base):
    """One business event, as received.

    `seq` is the ingest sequence. `txid` is the id of the inserting transaction: sequence values
    are handed out before commit, so readers that follow new events use `txid` against
    `pg_snapshot_xmin` to know which rows can no longer appear behind them.
    """

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    provider: Mapped[str] = mapped_column(String(256))
    # Part of the key (migration 0013): on Citus, `events` is distributed by event_id.
    event_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    type: Mapped[str] = mapped_column(String(256))
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    txid: Mapped[int] = mapped_column(Xid8(), server_default=text("pg_current_xact_id()"))

    __table_args__ = (
        UniqueConstraint("provider", "event_id"),
        Index("ix_events_provider_type_timestamp", "provider", "type", "timestamp"),
        Index("ix_events_timestamp", "timestamp"),
        Index("ix_events_txid", "txid"),
        # Added by the flow_instances migration (0003): the correlator pages by (txid, seq).
        Index("ix_events_txid_seq", "txid", "seq"),
        Index(
            "ix_events_attributes",
            "attributes",
            postgresql_using="gin",
            postgresql_ops={"attributes": "jsonb_path_ops"},
        ),
    )
