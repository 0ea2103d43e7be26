"""The correlator's batches are bounded by rows and by the bytes of the events' attributes."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from flowscope.db import Database
from flowscope.flows.correlation.memberships import raw
from flowscope.flows.correlation.reads import BACKFILL, read_batch
from tests.flows.correlation_support import PROVIDER, event, ingest


def _read(db: Database, n: int, max_bytes: int, after: int = 0) -> tuple[list[int], bool]:
    with db.sessions() as session:
        conn = raw(session)
        with conn.cursor() as cur:
            horizon = cur.execute("select pg_current_snapshot()::text").fetchone()[0]  # type: ignore[index]
        batch = read_batch(
            conn,
            BACKFILL,
            {
                "after": after,
                "horizon": horizon,
                "providers": [PROVIDER],
                "types": ["order.placed"],
            },
            n=n,
            max_bytes=max_bytes,
        )
    return [row[0] for row in batch.rows], batch.exhausted


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
