"""Readers cannot starve ingest: ingest has its own pool, reads fail fast when theirs is full."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.db import Database
from flowscope.offload import Full, ThreadSlots
from flowscope.settings import Settings
from tests.fixtures.events import INGEST_URL, count_events, make_event

POOL_SIZE = 2


@pytest.fixture
def own_pools_client(settings: Settings, clean_db: Database) -> Iterator[TestClient]:
    """An app that opens its own pools (POOL_SIZE each, the same again as overflow)."""
    app_settings = settings.model_copy(
        update={"pool_size": POOL_SIZE, "read_pool_timeout_seconds": 0.5}
    )
    with TestClient(create_app(app_settings)) as client:
        yield client


@pytest.fixture
def readers_hold_every_connection(own_pools_client: TestClient) -> Iterator[None]:
    """What 24 slow queries do to a pool of 2 + 2: every read connection checked out."""
    db: Database = own_pools_client.app.state.db  # type: ignore[attr-defined]
    with ExitStack() as held:
        for _ in range(2 * POOL_SIZE):
            held.enter_context(db.engine.connect())
        yield


@pytest.mark.usefixtures("readers_hold_every_connection")
def test_ingest_is_not_delayed_by_readers_holding_every_read_connection(
    own_pools_client: TestClient, make_token: Callable[..., str], session: Session
) -> None:
    headers = {"Authorization": f"Api-Token {make_token('events:write')}"}
    single = own_pools_client.post(INGEST_URL, json=make_event(), headers=headers)
    assert single.status_code == 202, single.text
    batch = [make_event(**{"event.id": f"b-{i}", "pad": "x" * 300}) for i in range(100)]
    big = own_pools_client.post(INGEST_URL, json=batch, headers=headers)  # the thread path
    assert big.status_code == 202, big.text
    assert own_pools_client.get("/readyz").status_code == 200
    assert count_events(session) == 101


@pytest.mark.usefixtures("readers_hold_every_connection")
def test_reader_finding_no_free_connection_gets_503_not_a_hang(
    own_pools_client: TestClient, make_token: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Api-Token {make_token('events:read')}"}
    response = own_pools_client.post(
        "/api/v1/query", json={"query": "fetch bizevents"}, headers=headers
    )
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"]["code"] == "unavailable"


def test_thread_slots_count_abandoned_work_and_never_run_work_given_up_while_queued() -> None:
    async def scenario() -> list[str]:
        slots = ThreadSlots(1, "test", backlog=1)
        hung = threading.Event()  # a database that never answers, until set
        ran: list[str] = []
        with pytest.raises(TimeoutError):  # abandoned: its thread stays stuck
            await slots.run(hung.wait, deadline=0.05)
        with pytest.raises(TimeoutError):  # queued behind it, given up
            await slots.run(lambda: ran.append("given up"), deadline=0.05)
        waiting = asyncio.ensure_future(slots.run(lambda: ran.append("waited"), deadline=30))
        await asyncio.sleep(0)  # now queued: the stuck one plus this fill the slots and backlog
        with pytest.raises(Full):
            await slots.run(lambda: ran.append("refused"), deadline=30)
        hung.set()
        await waiting
        slots.close()
        return ran

    # A loop of its own in a thread of its own: the browser tests' session-wide Playwright keeps
    # an event loop running in the main thread, where asyncio.run() would refuse to start.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, scenario()).result() == ["waited"]
