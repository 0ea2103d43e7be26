"""Concurrent ingest of overlapping batches: every event stored once, no request fails."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.fixtures.events import INGEST_URL, count_events, make_event


def test_overlapping_batches_sent_at_once_store_each_event_once(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    ids = [f"c-{i}" for i in range(2000)]
    rng = random.Random(7)
    batches = []
    for _ in range(8):
        order = ids[:]
        rng.shuffle(order)  # different orders lock rows in different orders
        batches.append([make_event(**{"event.id": i}) for i in order])

    def send(batch: list[dict[str, object]]) -> tuple[int, dict[str, int]]:
        response = client.post(INGEST_URL, json=batch, headers=write_headers)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, batches))

    assert [status for status, _ in results] == [202] * len(batches), results
    assert sum(body["accepted"] for _, body in results) == len(ids)
    assert sum(body["duplicates"] for _, body in results) == len(ids) * (len(batches) - 1)
    assert count_events(session) == len(ids)
