"""Storing events: COPY into a per-connection staging table, then one idempotent insert."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps
from sqlalchemy import text
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

# Events in request order, so that `seq` follows the order the client sent them in (ties in
# time are then ordered as sent). Duplicates, within the batch or with stored events, are
# skipped by the unique (provider, event_id).
# The staging rows are cleared in the same statement (both parts see the same snapshot), so a
# transaction that stores several batches never moves a row twice.
_MOVE = """
with moved as (
    insert into events (provider, event_id, type, "timestamp", attributes)
    select provider, event_id, type, "timestamp", attributes from ingest_staging order by ord
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
        connection.info["ingest_ready"] = True
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


def provider_overview(session: Session, since: datetime | None) -> list[dict[str, Any]]:
    """Per provider and event type: events since `since` (all when None), all events, and the
    latest event time.

    Uses the (provider, type, timestamp) index; the all-time count is a plain count, which is
    fine at the sizes the overview page is for and is replaced by pre-aggregates later.
    """
    recent = 'count(*) filter (where "timestamp" >= :since)' if since else "count(*)"
    rows = session.execute(
        text(
            f"""
            select provider, type, {recent} as recent, count(*) as total,
                   max("timestamp") as latest
            from events
            group by provider, type
            order by provider, type
            """  # noqa: S608 - a constant fragment; values are bound parameters
        ),
        {"since": since},
    ).mappings()
    return [dict(row) for row in rows]


def latest_events(
    session: Session,
    *,
    provider: str | None = None,
    type_: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The latest stored events (newest received first), with their attributes: what a
    developer checks to see that their app's events arrive as intended.

    Ordered by `seq` (ingest order), which the primary key serves without a sort; a filter on
    provider/type/time is applied while walking that index backwards.
    """
    where = ["true"]
    params: dict[str, Any] = {"limit": limit}
    if provider:
        where.append("provider = :provider")
        params["provider"] = provider
    if type_:
        where.append("type = :type")
        params["type"] = type_
    if since is not None:
        where.append('"timestamp" >= :since')
        params["since"] = since
    rows = session.execute(
        text(
            'select seq, provider, type, event_id, "timestamp", received_at, attributes '  # noqa: S608
            f"from events where {' and '.join(where)} order by seq desc limit :limit"
        ),
        params,
    ).mappings()
    return [dict(row) for row in rows]
