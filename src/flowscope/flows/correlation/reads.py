"""The correlator's reads of new events, in batches bounded by rows and by bytes.

The provider and type filters are written `x || ''` so that they cannot use an index: the
reads must walk the (txid, seq) or seq order with a limit. Right after a bulk load, stale
statistics made PostgreSQL pick the (provider, type) index and sort every row of the range
for each batch instead.

A batch is at most `n` rows and, past its first row, at most `max_bytes` of stored attributes
(`pg_column_size`: the size on disk, which a compressed large document can exceed in memory
by its compression ratio): a burst of large events cannot make one batch hold gigabytes.
The cut is made in PostgreSQL over the rows the limit picked, so nothing past it is sent.

Every read walks its key order (`seq` for a backfill, (txid, seq) for the live phases) in
windows of `n` stored events, whatever they match (`read_window`): the end of the window is
found first, on the key's index alone, and the batch is the window's matching events.
Asked for "the next `n` matching events in key order" instead, the planner estimated the
filters (a function of the snapshot, `x || ''`) to keep a few hundred rows of the table, so a
walk in key order looked like a full scan anyway: at 20 M events it sorted the whole table
for every batch (13 s per 20,000 events; 2 M was already 0.5–1 s), and a catch-up over a
wide range of transactions did the same. A bounded window is a short range scan, whatever
the statistics.

Only the attributes the flows read are sent (`project`): each path the matcher reads (the
correlation fields, exception conditions, step properties, revenue) as one JSON text column,
which Python puts back as `{path: value}`. `get_path` on that dict finds every path by its
flat key and misses exactly the ones missing from the whole document, so matching sees what
it would see in the whole document. Parsing whole documents was most of a backfill's time:
the retail demo's events (~240 bytes, 8 nested objects) cost 2 s of Python per 200,000 events
to read whole, 1 s projected; bench/flow_page.py's 2 M backfill was bound by it (Python CPU
55.6 s of 63 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from flowscope.attributes import sql_parameters, value_sql

# Events of the given transactions (finished since the build's snapshot).
FINISHED = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint as tx, txid
from events
where txid = any(%(txids)s::text[]::xid8[]) and (txid, seq) > (%(ct)s::text::xid8, %(cs)s)
  and (txid, seq) <= (%(ut)s::text::xid8, %(us)s::int8)
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
  and (txid, seq) <= (%(ut)s::text::xid8, %(us)s::int8)
  and provider || '' = any(%(providers)s) and type || '' = any(%(types)s)
order by txid, seq
limit %(n)s
"""

# A new build's backfill: the events visible in its horizon snapshot, in seq order.
BACKFILL = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint as tx
from events
where seq > %(cs)s and seq <= %(us)s::int8
  and pg_visible_in_snapshot(txid, %(horizon)s::pg_snapshot)
  and provider || '' = any(%(providers)s) and type || '' = any(%(types)s)
order by seq
limit %(n)s
"""

# Each statement's window: the key of the n-th stored event after (ct, cs) in its order, by
# the key's index alone (`skip` = n - 1); none when fewer are left.
_WINDOW_END = {
    FINISHED: """
select txid::text, seq from events
where txid = any(%(txids)s::text[]::xid8[]) and (txid, seq) > (%(ct)s::text::xid8, %(cs)s)
order by txid, seq offset %(skip)s limit 1
""",
    NEWER: """
select txid::text, seq from events
where txid >= %(lo)s::text::xid8 and txid < %(hi)s::text::xid8
  and (txid, seq) > (%(ct)s::text::xid8, %(cs)s)
order by txid, seq offset %(skip)s limit 1
""",
    BACKFILL: """
select '0', seq from events where seq > %(cs)s order by seq offset %(skip)s limit 1
""",
}
# Past every key: the upper bound of the last window.
_END = ("18446744073709551615", 9223372036854775807)

MAX_BATCH_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Batch:
    # (seq, provider, type, timestamp, attributes at the paths read, txid)
    rows: list[tuple[Any, ...]]
    exhausted: bool  # the walk reached the last stored event: nothing follows this batch
    # where the next batch starts: after this (txid, seq) key ('0' for a backfill's seq walk)
    after: tuple[str, int]


# In the statements' own order (txid, not its bigint copy): no sort besides theirs.
_ORDER = {FINISHED: "txid, seq", NEWER: "txid, seq", BACKFILL: "seq"}


def bounded(sql: str, paths: Sequence[str]) -> tuple[str, dict[str, str]]:
    """`sql` (one of this module's statements) cut by `n` rows and `max_bytes`, with the
    attributes at `paths` as text columns (`project`), and the parameters that spell them."""
    order = _ORDER[sql]
    columns, params = project(paths)
    # `fetched` counts what the limit picked, so a cut by bytes is not taken for the end.
    statement = f"""
select seq, provider, type, "timestamp", {columns}, tx, fetched
from (
  select q.*, count(*) over () as fetched,
         sum(pg_column_size(q.attributes)) over (order by {order} rows unbounded preceding)
           - pg_column_size(q.attributes) as before
  from ({sql}) as q
) as b
where before < %(max_bytes)s
order by {order}
"""  # noqa: S608 - fixed statements of this module; paths are bound parameters
    return statement, params


def project(paths: Sequence[str]) -> tuple[str, dict[str, str]]:
    """SQL columns of `b.attributes` at each of `paths`, as JSON text (SQL NULL: missing), by
    the attribute-path rule's SQL form (`flowscope.attributes.value_sql`); its key and JSON
    path are bound parameters (`k<i>`, `j<i>`)."""
    columns = []
    params: dict[str, str] = {}
    for i, path in enumerate(paths):
        params[f"k{i}"], params[f"j{i}"] = sql_parameters(path)
        columns.append(f"{value_sql('b.attributes', f'%(k{i})s::text', f'%(j{i})s')}::text")
    return ", ".join(columns) or "null::text", params


def _read(
    conn: psycopg.Connection[Any],
    sql: str,
    params: dict[str, Any],
    n: int,
    max_bytes: int,
    paths: Sequence[str],
) -> tuple[list[tuple[Any, ...]], int]:
    """The rows of `sql` bounded by `n` and `max_bytes`, and how many the limit picked; each
    row's attributes are the values at `paths` (`{path: value}`, a missing one left out)."""
    statement, keys = bounded(sql, paths)
    with conn.cursor() as cur:
        cur.execute(statement, {**params, **keys, "n": n, "max_bytes": max_bytes})
        rows = cur.fetchall()
    fetched = rows[0][-1] if rows else 0
    k = max(len(paths), 1)
    return [(*row[:4], projected(paths, row[4 : 4 + k]), row[4 + k]) for row in rows], fetched


def projected(paths: Sequence[str], values: Sequence[str | None]) -> dict[str, Any]:
    """The attributes as `project`'s columns give them back: `{path: value}`, a missing one
    left out (`flowscope.attributes.get_path` reads each path from it as from the document)."""
    loads = orjson.loads
    return {p: loads(v) for p, v in zip(paths, values, strict=False) if v is not None}


def read_window(
    conn: psycopg.Connection[Any],
    sql: str,
    params: dict[str, Any],
    *,
    n: int,
    paths: Sequence[str],
    max_bytes: int = MAX_BATCH_BYTES,
) -> Batch:
    """The events of `sql` (one of this module's statements) in the next window of `n` stored
    events after the key `params["ct"], params["cs"]`, rows past the first only while the
    attributes before them stay under `max_bytes`; of the attributes, only the values at
    `paths` (what the flows read: `CompiledFlow.attribute_paths`)."""
    after = (str(params["ct"]), int(params["cs"]))
    with conn.cursor() as cur:
        end = cur.execute(_WINDOW_END[sql], {**params, "skip": n - 1}).fetchone()
    ut, us = (end[0], end[1]) if end else _END
    rows, fetched = _read(conn, sql, {**params, "ut": ut, "us": us}, n, max_bytes, paths)
    if len(rows) < fetched:  # cut by bytes: the rest of the window comes next
        return Batch(rows, exhausted=False, after=_key(sql, rows[-1]))
    if end is None:  # the window reached the last stored event
        return Batch(rows, exhausted=True, after=_key(sql, rows[-1]) if rows else after)
    return Batch(rows, exhausted=False, after=(ut, us))


def _key(sql: str, row: tuple[Any, ...]) -> tuple[str, int]:
    return ("0" if sql is BACKFILL else str(row[5]), row[0])
