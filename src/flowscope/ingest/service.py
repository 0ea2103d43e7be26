"""Storing events: one idempotent `insert … select from unnest(arrays) on conflict do nothing`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent

# One statement per request: the events travel as five binary arrays (as cheap as COPY for
# 500-event batches and half the round trips of COPY-into-staging for single events, measured
# in bench/ingest.py).
# `seq` follows the order the client sent the events in (ties in time are then ordered as sent):
# it is drawn in `ord` order first (a CTE with a volatile function is evaluated once, in that
# order). The rows are then inserted in key order, so concurrent requests that share event ids
# take the unique index's locks in the same order and cannot deadlock; the first of several
# duplicates sent wins. Duplicates, within the request or with stored events, are skipped by the
# unique (provider, event_id) and leave gaps in `seq`.
# Events older than their provider's retention horizon are skipped too (counted as duplicates:
# they were stored once and deleted by retention, or would be at its next run), so an event
# deleted by retention is never stored again whatever a client re-sends (README, Retention).
# Validation refuses them first with a 400 naming the field; this guard is what still holds
# when that check worked from a copy of the rules a few seconds old.
_NUMBERED = """
numbered as (
    select nextval('events_seq_seq') as seq, p, i, t, ts, a, ord
    from (
        select * from unnest(%(p)b::text[], %(i)b::text[], %(t)b::text[],
                             %(ts)b::timestamptz[], %(a)b::jsonb[]{arrays})
                      with ordinality as u(p, i, t, ts, a{names}, ord)
        where {guard}
          and not exists (select 1 from retention_providers r
                          where r.provider = u.p and r.purged_before > u.ts)
        order by ord
    ) as sent
)"""
_MOVE = """, moved as (
    insert into events (seq, provider, event_id, type, "timestamp", attributes)
    overriding system value
    select seq, p, i, t, ts, a from numbered
    order by p, i, ord
    on conflict (provider, event_id) do nothing
    returning 1
)
select {guard}, count(*) from moved
"""
_INSERT = "with" + _NUMBERED.format(arrays="", names="", guard="{guard}") + _MOVE
_WRITER_GUARD = """exists (
        select 1 from api_tokens
        where token_hash = %(token)s and revoked_at is null and scopes && %(scopes)s::varchar[])"""
_INSERT_FOR_TOKEN = _INSERT.format(guard=_WRITER_GUARD)
_INSERT_ANY = _INSERT.format(guard="true")

# Several requests in one statement (see ingest/writer.py): each row carries its request's token
# hash; rows of tokens that are not live with the scope are skipped; the inserted keys come
# back so that each request can be told how many of its events were stored.
_ALLOWED = """
with allowed as (
    select token_hash from api_tokens
    where token_hash = any(%(tokens)s::text[]) and revoked_at is null
      and scopes && %(scopes)s::varchar[]
),"""
_GROUP_ROWS = _NUMBERED.format(
    arrays=", %(w)b::text[]", names=", w", guard="w in (select token_hash from allowed)"
)
_MOVE_GROUP = """, moved as (
    insert into events (seq, provider, event_id, type, "timestamp", attributes)
    overriding system value
    select seq, p, i, t, ts, a from numbered
    order by p, i, ord
    on conflict (provider, event_id) do nothing
    returning provider, event_id
)
select array(select token_hash from allowed),
       (select coalesce(jsonb_agg(jsonb_build_array(provider, event_id)), '[]') from moved)
"""
_INSERT_GROUP = _ALLOWED + _GROUP_ROWS + _MOVE_GROUP


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # integers beyond 64 bits: the stdlib writes them exactly
        return json.dumps(obj, ensure_ascii=False).encode()


@contextmanager
def autocommit_connection(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in autocommit, for the duration of one ingest request.

    Every request writes with one statement (the token check travels inside the insert), so in
    autocommit that statement's commit happens, and with synchronous_commit on is flushed,
    before its answer comes back: no BEGIN and COMMIT round trips. The pool is the app's own
    (pre-ping included); a session around it cost ~90 us of CPU per request, as much as the
    insert's own Python work (bench/README.md).
    """
    fairy = db.ingest.raw_connection()  # ingest's own pool: readers cannot starve it
    conn = fairy.driver_connection
    assert isinstance(conn, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    try:
        conn.autocommit = True
        yield conn
    finally:
        try:
            conn.autocommit = False  # the pool's other users expect transactions
        except psycopg.Error:
            fairy.invalidate()  # broken (e.g. the server went away): never hand it out again
        fairy.close()


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
    `autocommit_connection`). Returns None, having stored nothing, when the token is not live
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


def store_event_groups(
    conn: psycopg.Connection[Any],
    groups: Sequence[tuple[str, Sequence[NewEvent]]],
    scopes: Sequence[str],
) -> list[tuple[int, int] | None]:
    """`store_events_for_token` for several (token hash, events) requests in one statement.

    Returns, per request, (stored, duplicates), or None when its token is not live with one of
    `scopes` (none of its events stored). An event whose key appears earlier in the group, in
    the same or an earlier request, counts as a duplicate, as it would have one request later.
    """
    events = [e for _, group in groups for e in group]
    owners = [token for token, group in groups for _ in group]
    params = {
        "tokens": sorted({token for token, _ in groups}),
        "scopes": list(scopes),
        "p": [e.provider for e in events],
        "i": [e.event_id for e in events],
        "t": [e.type for e in events],
        "ts": [e.timestamp for e in events],
        "a": [Jsonb(e.attributes, dumps=_dumps) for e in events],
        "w": owners,
    }
    with conn.cursor() as cur:
        row = cur.execute(_INSERT_GROUP, params).fetchone()
    assert row is not None  # noqa: S101 - a select without from always returns a row
    allowed = set(row[0])
    inserted = {(provider, event_id) for provider, event_id in row[1]}
    results: list[tuple[int, int] | None] = []
    for token, group in groups:
        if token not in allowed:
            results.append(None)
            continue
        stored = 0
        for e in group:
            key = (e.provider, e.event_id)
            if key in inserted:
                inserted.discard(key)  # the first of equal keys in the group is the stored one
                stored += 1
        results.append((stored, len(group) - stored))
    return results
