"""Concurrent ingest of overlapping batches: every event stored once, no deadlock, no failure."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.fixtures.events import INGEST_URL, count_events, make_event, stored

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def event(event_id: str) -> NewEvent:
    return NewEvent("shop", event_id, "order.placed", T0, {"id": event_id})


def wait_until_blocked(observer: Session, pid: int) -> None:
    """Poll until backend `pid` waits for a lock (a condition, not a timing assertion)."""
    for _ in range(500):
        observer.rollback()
        state = observer.scalar(
            text("select wait_event_type from pg_stat_activity where pid = :pid"), {"pid": pid}
        )
        if state == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited for a lock")


def test_batches_sharing_ids_in_opposite_orders_do_not_deadlock(
    clean_db: Database, session: Session
) -> None:
    """A holds x and then wants y; B sends [y, x]. Inserted as sent, B would hold y while
    waiting for x: a deadlock, one batch aborted. In key order B waits for x before taking y."""
    with clean_db.sessions() as a, clean_db.sessions() as b:
        assert store_events(a, [event("x")]) == (1, 0)
        b_pid = int(b.scalar(text("select pg_backend_pid()")) or 0)
        outcome: dict[str, object] = {}

        def run_b() -> None:
            try:
                outcome["b"] = store_events(b, [event("y"), event("x")])
                b.commit()
            except Exception as exc:  # reported below, not lost in the thread
                outcome["b"] = exc
                b.rollback()

        thread = threading.Thread(target=run_b)
        thread.start()
        try:
            wait_until_blocked(session, b_pid)
            assert store_events(a, [event("y")]) == (1, 0)
            a.commit()
        finally:
            thread.join(timeout=30)
        assert outcome["b"] == (0, 2)
    assert [r["event_id"] for r in stored(session)] == ["x", "y"]


def test_overlapping_batches_sent_at_once_store_each_event_once(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    ids = [f"c-{i}" for i in range(500)]
    rng = random.Random(7)
    batches = []
    for _ in range(6):
        order = ids[:]
        rng.shuffle(order)
        batches.append([make_event(**{"event.id": i}) for i in order])

    def send(batch: list[dict[str, object]]) -> tuple[int, dict[str, int]]:
        response = client.post(INGEST_URL, json=batch, headers=write_headers)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        results = list(pool.map(send, batches))

    assert [status for status, _ in results] == [202] * len(batches), results
    assert sum(body["accepted"] for _, body in results) == len(ids)
    assert sum(body["duplicates"] for _, body in results) == len(ids) * (len(batches) - 1)
    assert count_events(session) == len(ids)
