"""The correlator's batches are bounded by rows and by the bytes of the events' attributes; a
backfill walks the stored events in windows by key, whatever the statistics say; of the
attributes only the paths the flows read are sent, and they read the same from them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from flowscope.attributes import MISSING, get_path
from flowscope.db import Database
from flowscope.flows.correlation.memberships import raw
from flowscope.flows.correlation.reads import (
    _WINDOW_END,
    BACKFILL,
    NEWER,
    bounded,
    project,
    projected,
    read_window,
)
from tests.flows.correlation_support import PROVIDER, event, ingest
from tests.test_attributes import ATTRIBUTES, PATHS, same


def _read(db: Database, n: int, max_bytes: int, after: int = 0) -> tuple[list[int], bool]:
    seqs, exhausted, _ = _window(db, n, max_bytes, after)
    return seqs, exhausted


def _window(db: Database, n: int, max_bytes: int, after: int = 0) -> tuple[list[int], bool, int]:
    with db.sessions() as session:
        conn = raw(session)
        with conn.cursor() as cur:
            horizon = cur.execute("select pg_current_snapshot()::text").fetchone()[0]  # type: ignore[index]
        batch = read_window(
            conn,
            BACKFILL,
            {
                "ct": 0,
                "cs": after,
                "horizon": horizon,
                "providers": [PROVIDER],
                "types": ["order.placed"],
            },
            n=n,
            paths=["order.id"],
            max_bytes=max_bytes,
        )
    return [row[0] for row in batch.rows], batch.exhausted, batch.after[1]


def test_batches_stop_at_the_row_limit_and_say_when_nothing_follows(clean_db: Database) -> None:
    ingest(clean_db, [event(f"o{i}", "order.placed", i) for i in range(10)])
    seqs, exhausted = _read(clean_db, n=4, max_bytes=10**9)
    assert len(seqs) == 4
    assert not exhausted
    assert seqs == sorted(seqs)
    rest, exhausted = _read(clean_db, n=4, max_bytes=10**9, after=seqs[-1])
    assert len(rest) == 4
    assert not exhausted
    last, exhausted = _read(clean_db, n=4, max_bytes=10**9, after=rest[-1])
    assert len(last) == 2
    assert exhausted


def test_batches_stop_at_the_byte_limit_but_always_hold_one_event(clean_db: Database) -> None:
    ingest(
        clean_db,
        [
            event(f"o{i}", "order.placed", i, attrs={"note": uuid.uuid4().hex * 40})
            for i in range(10)
        ],
    )
    with clean_db.sessions() as s:
        sizes = list(s.scalars(text("select pg_column_size(attributes) from events order by seq")))
    assert min(sizes) > 1000  # stored uncompressed enough for the limits below to bite
    seqs, exhausted = _read(clean_db, n=10, max_bytes=1)
    assert len(seqs) == 1
    assert not exhausted
    limit = sizes[0] + sizes[1] + 1  # room for the third event to start
    seqs, exhausted = _read(clean_db, n=10, max_bytes=limit)
    assert len(seqs) == 3
    assert not exhausted
    seqs, exhausted = _read(clean_db, n=10, max_bytes=10**9)
    assert len(seqs) == 10
    assert not exhausted


def test_a_window_without_matching_events_still_moves_the_backfill_on(clean_db: Database) -> None:
    ingest(clean_db, [event(f"o{i}", "payment.captured", i) for i in range(10)])
    ingest(clean_db, [event(f"o{i}", "order.placed", 20 + i) for i in range(3)])
    with clean_db.sessions() as s:
        stored = list(s.scalars(text("select seq from events order by seq")))
    windows, after, exhausted = [], 0, False
    while not exhausted:
        seqs, exhausted, after = _window(clean_db, n=4, max_bytes=10**9, after=after)
        windows.append(seqs)
    assert windows == [[], [], stored[10:12], stored[12:]]
    assert after == stored[-1]


@pytest.mark.parametrize("statement", [BACKFILL, NEWER], ids=["backfill", "newer"])
def test_a_read_is_a_key_range_scan_at_any_size(clean_db: Database, statement: str) -> None:
    """Asked for the next n *matching* events in key order, the planner (estimating the
    filters to keep a few rows of the table) sorted the whole table per batch: quadratic."""
    for part in range(6):
        ingest(clean_db, [event(f"o{part}-{i}", "order.placed", i) for i in range(5000)])
    with clean_db.engine.begin() as conn:
        conn.exec_driver_sql("analyze events")
    with clean_db.sessions() as session:
        conn = raw(session)
        with conn.cursor() as cur:
            row = cur.execute(
                "select min(seq), min(txid)::text, max(txid)::text, "
                "pg_current_snapshot()::text from events"
            ).fetchone()
            assert row is not None
            first, lo, hi, snapshot = row
            params = {
                "ct": "0",
                "cs": first,
                "lo": lo,
                "hi": str(int(hi) + 1),
                "snapshot": snapshot,
                "horizon": snapshot,
                "providers": [PROVIDER],
                "types": ["order.placed"],
                "n": 1000,
                "max_bytes": 10**9,
                "skip": 999,
            }
            end = cur.execute(_WINDOW_END[statement], params).fetchone()
            assert end is not None
            params["ut"], params["us"] = end
            sql, projection = bounded(statement, ["order.id", "customer.tier"])
            cur.execute(f"explain (format json) {sql}", {**params, **projection})
            (document,) = cur.fetchone()  # type: ignore[misc]
    plan = json.dumps(document)
    assert '"Seq Scan"' not in plan, plan
    assert "pk_events" in plan or "ix_events_txid" in plan, plan


def test_a_batch_carries_the_attributes_at_the_paths_read(clean_db: Database) -> None:
    ingest(clean_db, [event("o1", "order.placed", attrs={"note": "x" * 500, "n": None})])
    with clean_db.sessions() as session:
        conn = raw(session)
        horizon = conn.execute("select pg_current_snapshot()::text").fetchone()[0]  # type: ignore[index]
        batch = read_window(
            conn,
            BACKFILL,
            {
                "ct": 0,
                "cs": 0,
                "horizon": horizon,
                "providers": [PROVIDER],
                "types": ["order.placed"],
            },
            n=10,
            paths=["n", "nowhere", "order.id"],
        )
    ((*_, attributes, _),) = batch.rows
    assert attributes == {"n": None, "order.id": "o1"}  # a JSON null is there, "nowhere" not


@pytest.fixture(scope="module")
def connection(database: Database) -> Iterator[Connection]:
    with database.engine.connect() as conn:
        yield conn


def _chains(document: dict[str, Any]) -> Iterator[str]:
    """Every key of `document` and every chain of keys through its nested objects, dotted,
    and through the first item of an array (a path that must not index it)."""
    for key, value in document.items():
        yield key
        if isinstance(value, list) and value:
            yield f"{key}.0"
            value = {"0": value[0]}
        if isinstance(value, dict):
            yield from (f"{key}.{rest}" for rest in _chains(value))


@st.composite
def documents_and_paths(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A document and paths to read, half of them taken from the document's own keys (flat
    dotted keys and nested chains), so that most are present."""
    attributes = draw(ATTRIBUTES)
    own = sorted(set(_chains(attributes)))
    choices = PATHS | st.sampled_from(own) if own else PATHS
    return attributes, draw(st.lists(choices, min_size=1, max_size=4, unique=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=documents_and_paths())
def test_every_path_reads_the_same_from_the_projection_as_from_the_document(
    connection: Connection, case: tuple[dict[str, Any], list[str]]
) -> None:
    """Read back as the correlator reads them (`project`'s columns, `projected`'s dict), the
    values at the paths a flow reads are those `get_path` finds in the whole document: a path
    missing there is missing here, even where another path's value could lead a walk on."""
    attributes, paths = case
    columns, params = project(paths)
    values = connection.exec_driver_sql(
        f"select {columns} from (select cast(%(doc)s as jsonb) as attributes) as b",  # noqa: S608
        {**params, "doc": json.dumps(attributes)},
    ).one()
    seen = projected(paths, list(values))
    for path in paths:
        expected, found = get_path(attributes, path), get_path(seen, path)
        assert (found is MISSING) == (expected is MISSING), path
        if expected is not MISSING:
            assert same(expected, found), path
