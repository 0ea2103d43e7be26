"""Storing events: one idempotent `insert … select from unnest(arrays) on conflict do nothing`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent

# One statement per request: the events travel as five binary arrays (as cheap as COPY for
# 500-event batches and half the round trips of COPY-into-staging for single events, measured
# in bench/ingest.py), unnested in request order so that `seq` follows the order the client sent
# them in. Duplicates, within the batch or with stored events, are skipped by the unique
# (provider, event_id).
_INSERT = """
with moved as (
    insert into events (provider, event_id, type, "timestamp", attributes)
    select p, i, t, ts, a
    from unnest(%(p)b::text[], %(i)b::text[], %(t)b::text[], %(ts)b::timestamptz[],
                %(a)b::jsonb[]) with ordinality as u(p, i, t, ts, a, ord)
    where {guard}
    order by ord
    on conflict (provider, event_id) do nothing
    returning 1
)
select {guard}, count(*) from moved
"""
# The writer's API token, checked again inside the insert itself: a token revoked (in any
# process) before this statement stores nothing, and the check costs no extra round trip.
_WRITER_GUARD = """exists (
        select 1 from api_tokens
        where token_hash = %(token)s and revoked_at is null and scopes && %(scopes)s::varchar[])"""
_INSERT_FOR_TOKEN = _INSERT.format(guard=_WRITER_GUARD)
_INSERT_ANY = _INSERT.format(guard="true")


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # integers beyond 64 bits: the stdlib writes them exactly
        return json.dumps(obj, ensure_ascii=False).encode()


def _driver(session: Session) -> psycopg.Connection[Any]:
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    return driver


def _insert(
    conn: psycopg.Connection[Any], sql: str, events: Sequence[NewEvent], **extra: Any
) -> tuple[bool, int]:
    params = {
        "p": [e.provider for e in events],
        "i": [e.event_id for e in events],
        "t": [e.type for e in events],
        "ts": [e.timestamp for e in events],
        "a": [Jsonb(e.attributes, dumps=_dumps) for e in events],
        **extra,
    }
    with conn.cursor() as cur:
        row = cur.execute(sql, params).fetchone()
    assert row is not None  # noqa: S101 - an aggregate always returns a row
    return bool(row[0]), int(row[1])


def store_events(session: Session, events: Sequence[NewEvent]) -> tuple[int, int]:
    """Append `events`; returns (stored, duplicates). Runs inside the caller's transaction."""
    if not events:
        return 0, 0
    _, stored = _insert(_driver(session), _INSERT_ANY, events)
    return stored, len(events) - stored


def store_events_for_token(
    conn: psycopg.Connection[Any],
    events: Sequence[NewEvent],
    token_hash: str,
    scopes: Sequence[str],
) -> tuple[int, int] | None:
    """Like `store_events`, if the token with `token_hash` is live and has one of `scopes`.

    Takes the pooled psycopg connection of the ingest route rather than a session (see
    `ingest.api._connection`). Returns None, having stored nothing, when the token is not live
    or lacks the scopes; the caller then answers 401 or 403.
    """
    if not events:
        return 0, 0
    allowed, stored = _insert(
        conn, _INSERT_FOR_TOKEN, events, token=token_hash, scopes=list(scopes)
    )
    if not allowed:
        return None
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
