"""The correlator's reads of new events, in batches bounded by rows and by bytes.

The provider and type filters are written `x || ''` so that they cannot use an index: the
reads must walk the (txid, seq) or seq order with a limit. Right after a bulk load, stale
statistics made PostgreSQL pick the (provider, type) index and sort every row of the range
for each batch instead.

A batch is at most `n` rows and, past its first row, at most `max_bytes` of stored attributes
(`pg_column_size`: the size on disk, which a compressed large document can exceed in memory
by its compression ratio): a burst of large events cannot make one batch hold gigabytes.
The cut is made in PostgreSQL over the rows the limit picked, so nothing past it is sent.

A backfill walks `seq` in windows of `n` stored events, whatever they match (`read_backfill`):
the end of the window is found first, on the primary key alone, and the batch is the
window's matching events. Asked for "the next `n` matching events in seq order" instead,
the planner estimated the filters (a function of the snapshot, `x || ''`) to keep a few
hundred rows of the whole table, so a walk in key order looked like a full scan anyway, and
at 20 M events it sorted the whole table for every batch (13 s per 20,000 events; 2 M was
already 0.5–1 s): the backfill was quadratic. A bounded window is a short range scan,
whatever the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads

# Events of the given transactions (finished since the build's snapshot).
FINISHED = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint as tx, txid
from events
where txid = any(%(txids)s::text[]::xid8[]) and (txid, seq) > (%(ct)s::text::xid8, %(cs)s)
  and provider || '' = any(%(providers)s) and type || '' = any(%(types)s)
order by txid, seq
limit %(n)s
"""

# Events of transactions that started after the build's snapshot and are visible now.
NEWER = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint as tx, txid
from events
where txid >= %(lo)s::text::xid8 and txid < %(hi)s::text::xid8
  and pg_visible_in_snapshot(txid, %(snapshot)s::pg_snapshot)
  and (txid, seq) > (%(ct)s::text::xid8, %(cs)s)
  and provider || '' = any(%(providers)s) and type || '' = any(%(types)s)
order by txid, seq
limit %(n)s
"""

# A new build's backfill: the events visible in its horizon snapshot, in seq order, of the
# window (after, upto] (`read_backfill`).
BACKFILL = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint as tx
from events
where seq > %(after)s and seq <= coalesce(%(upto)s::int8, 9223372036854775807)
  and pg_visible_in_snapshot(txid, %(horizon)s::pg_snapshot)
  and provider || '' = any(%(providers)s) and type || '' = any(%(types)s)
order by seq
limit %(n)s
"""

# The last seq of the next `n` stored events after `after`; none when fewer are left.
_WINDOW_END = """
select seq from events where seq > %(after)s order by seq offset %(skip)s limit 1
"""

MAX_BATCH_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Batch:
    rows: list[tuple[Any, ...]]  # (seq, provider, type, timestamp, attributes, txid)
    exhausted: bool  # the statement had fewer than `n` rows left: nothing follows this batch
    after: int | None = None  # a backfill's position: the next batch starts after this seq


def _bounded(sql: str, order: str) -> str:
    # `fetched` counts what the limit picked, so a cut by bytes is not taken for the end.
    return f"""
select seq, provider, type, "timestamp", attributes, tx, fetched
from (
  select q.*, count(*) over () as fetched,
         sum(pg_column_size(q.attributes)) over (order by {order} rows unbounded preceding)
           - pg_column_size(q.attributes) as before
  from ({sql}) as q
) as b
where before < %(max_bytes)s
order by {order}
"""  # noqa: S608 - fixed statements of this module


_BOUNDED = {
    # In the statements' own order (txid, not its bigint copy): no sort besides theirs.
    FINISHED: _bounded(FINISHED, "txid, seq"),
    NEWER: _bounded(NEWER, "txid, seq"),
    BACKFILL: _bounded(BACKFILL, "seq"),
}


def _read(
    conn: psycopg.Connection[Any], sql: str, params: dict[str, Any], n: int, max_bytes: int
) -> tuple[list[tuple[Any, ...]], int]:
    """The rows of `sql` bounded by `n` and `max_bytes`, and how many the limit picked."""
    with conn.cursor() as cur:
        set_json_loads(orjson.loads, cur)
        cur.execute(_BOUNDED[sql], {**params, "n": n, "max_bytes": max_bytes})
        rows = cur.fetchall()
    fetched = rows[0][-1] if rows else 0
    return [row[:-1] for row in rows], fetched


def read_batch(
    conn: psycopg.Connection[Any],
    sql: str,
    params: dict[str, Any],
    *,
    n: int,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Batch:
    """One batch of `sql` (one of this module's statements): at most `n` rows, and rows past
    the first only while the attributes before them stay under `max_bytes`."""
    rows, fetched = _read(conn, sql, params, n, max_bytes)
    return Batch(rows, exhausted=fetched < n)


def read_backfill(
    conn: psycopg.Connection[Any],
    params: dict[str, Any],
    *,
    n: int,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Batch:
    """The matching events of the next window of `n` stored events after `params["after"]`
    (see the module's docstring), at most `max_bytes` of them as in `read_batch`;
    `Batch.after` says where the next batch starts."""
    after: int = params["after"]
    with conn.cursor() as cur:
        end = cur.execute(_WINDOW_END, {"after": after, "skip": n - 1}).fetchone()
    upto: int | None = end[0] if end else None
    rows, fetched = _read(conn, BACKFILL, {**params, "upto": upto}, n, max_bytes)
    if len(rows) < fetched:  # cut by bytes: the rest of the window comes next
        return Batch(rows, exhausted=False, after=rows[-1][0])
    if upto is None:  # the window reached the last stored event
        return Batch(rows, exhausted=True, after=rows[-1][0] if rows else after)
    return Batch(rows, exhausted=False, after=upto)
