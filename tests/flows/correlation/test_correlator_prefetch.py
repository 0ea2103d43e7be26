"""Reading ahead on a second connection: same results, errors surface, leaving stops it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import correlate
from flowscope.flows.correlation.memberships import raw
from flowscope.flows.correlation.prefetch import batches
from tests.flows.correlation_support import (
    caught_up,
    comparable,
    event,
    ingest,
    instances,
    make_flow,
)


def _numbers(conn: Any) -> Iterator[tuple[int, int]]:
    for i in range(100):
        yield i, threading.get_ident()


def test_the_reader_runs_on_another_thread_and_connection_when_parallel(
    clean_db: Database,
) -> None:
    with clean_db.sessions() as session:
        own = raw(session)
        seen: list[Any] = []

        def reader(conn: Any) -> Iterator[int]:
            seen.append(conn)
            yield from range(5)

        assert list(batches(session, own, reader, parallel=True)) == list(range(5))
        assert seen[0] is not own
        assert list(batches(session, own, reader, parallel=False)) == list(range(5))
        assert seen[1] is own
        inline = [t for _, t in batches(session, own, _numbers, parallel=False)]
        assert set(inline) == {threading.get_ident()}
        # Leaving early stops the reader (no thread left behind).
        for number, _ in batches(session, own, _numbers, parallel=True):
            if number == 3:
                break
        assert not [t for t in threading.enumerate() if t.name == "correlator-reader"]


def test_an_error_in_the_reader_reaches_the_run(clean_db: Database) -> None:
    def reader(conn: Any) -> Iterator[int]:
        yield 1
        raise ValueError("broken read")

    with clean_db.sessions() as session, pytest.raises(ValueError, match="broken read"):
        list(batches(session, raw(session), reader, parallel=True))


def test_serial_and_prefetched_runs_give_the_same_rows(clean_db: Database) -> None:
    make_flow(clean_db)
    ingest(clean_db, [event(f"o{i}", "order.placed", i) for i in range(25)])
    ingest(clean_db, [event(f"o{i}", "payment.captured", 30 + i) for i in range(0, 25, 2)])
    results = []
    for prefetch in (False, True):
        make_flow(clean_db, name=f"Orders {prefetch}")  # a new version: rebuilt from scratch
        for _ in range(200):
            with transaction(clean_db.sessions) as session:
                correlate(session, batch_size=4, backfill_batches=2, prefetch=prefetch)
            if caught_up(clean_db):
                break
        results.append(comparable(instances(clean_db)))
    assert len(results[0]) == 25
    assert results[0] == results[1]
