"""Storing events: COPY into a per-connection staging table, then one idempotent insert."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent

_STAGING_DDL = """
create temporary table if not exists ingest_staging (
    ord integer not null,
    provider text not null,
    event_id text not null,
    type text not null,
    "timestamp" timestamptz not null,
    attributes jsonb not null
) on commit delete rows
"""

# `seq` follows the order the client sent the events in (ties in time are then ordered as
# sent): it is drawn in `ord` order first (a CTE with a volatile function is evaluated once,
# in that order). The rows are then inserted in key order, so concurrent batches that share
# event ids take the unique index's locks in the same order and cannot deadlock; the first
# of several duplicates sent wins. Duplicates, within the batch or with stored events, are
# skipped by the unique (provider, event_id) and leave gaps in `seq`.
# The staging rows are cleared in the same statement (both parts see the same snapshot), so a
# transaction that stores several batches never moves a row twice.
_MOVE = """
with numbered as (
    select nextval('events_seq_seq') as seq, provider, event_id, type, "timestamp", attributes, ord
    from (select * from ingest_staging order by ord) as staged
), moved as (
    insert into events (seq, provider, event_id, type, "timestamp", attributes)
    overriding system value
    select seq, provider, event_id, type, "timestamp", attributes from numbered
    order by provider, event_id, ord
    on conflict (provider, event_id) do nothing
    returning 1
), cleared as (delete from ingest_staging)
select count(*) from moved
"""

_COPY = (
    'copy ingest_staging (ord, provider, event_id, type, "timestamp", attributes) '
    "from stdin (format binary)"
)
_COPY_TYPES = ["int4", "text", "text", "text", "timestamptz", "jsonb"]


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # integers beyond 64 bits: the stdlib writes them exactly
        return json.dumps(obj, ensure_ascii=False).encode()


def _raw_connection(session: Session) -> psycopg.Connection[Any]:
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    if not connection.info.get("ingest_ready"):
        set_json_dumps(_dumps, driver)
        with driver.cursor() as cur:
            cur.execute(_STAGING_DDL)
        info = connection.info
        info["ingest_ready"] = True

        # The table is created inside the caller's transaction: if that (or a savepoint around
        # it) rolls back, the table is gone while the pooled connection lives on. Forget the
        # flag then, or every later batch on this connection fails on a missing table.
        def forget(*_: Any) -> None:
            info.pop("ingest_ready", None)

        event.listen(connection, "rollback", forget, once=True)
        event.listen(connection, "rollback_savepoint", forget, once=True)
    return driver


def store_events(session: Session, events: Sequence[NewEvent]) -> tuple[int, int]:
    """Append `events`; returns (stored, duplicates). Runs inside the caller's transaction."""
    if not events:
        return 0, 0
    conn = _raw_connection(session)
    with conn.cursor() as cur:
        with cur.copy(_COPY) as copy:
            copy.set_types(_COPY_TYPES)
            for ord_, e in enumerate(events):
                copy.write_row((ord_, e.provider, e.event_id, e.type, e.timestamp, e.attributes))
        cur.execute(_MOVE)
        row = cur.fetchone()
        stored = int(row[0]) if row else 0
    return stored, len(events) - stored


def provider_overview(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Per provider and event type: events since `since`, all events, and the latest time.

    Uses the (provider, type, timestamp) index; the all-time count is a plain count, which is
    fine at the sizes the overview page is for and is replaced by pre-aggregates later.
    """
    rows = session.execute(
        text(
            """
            select provider, type,
                   count(*) filter (where "timestamp" >= :since) as recent,
                   count(*) as total,
                   max("timestamp") as latest
            from events
            group by provider, type
            order by provider, type
            """
        ),
        {"since": since},
    ).mappings()
    return [dict(row) for row in rows]
