"""Discovery results are kept until the provider's events change (discovery_cache.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.flows.definitions import discovery
from flowscope.flows.definitions.discovery import CACHE, discover
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.flows.factories import T0, store_cases


def uncommitted(session: Session, case_id: str) -> None:
    store_events(
        session, [NewEvent("shop", f"{case_id}-0", "placed", T0, {"order": {"id": case_id}})]
    )


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many times discovery ran its statement (rather than serving a kept result)."""
    CACHE.clear()
    runs: list[int] = []
    real = discovery._discover_sql

    def counting(parts: int):  # type: ignore[no-untyped-def]
        runs.append(parts)
        return real(parts)

    monkeypatch.setattr(discovery, "_discover_sql", counting)
    yield runs
    CACHE.clear()


def test_a_result_is_computed_once_and_kept_until_the_provider_gets_events(
    clean_db: Database, computed: list[int]
) -> None:
    with clean_db.sessions.begin() as s:
        store_cases(s, {"A": ["placed", "paid"], "B": ["placed"]})
    with clean_db.sessions() as s:
        first = discover(s, "shop", "order.id", top_variants=1)
        again = discover(s, "shop", "order.id", top_variants=5)
    assert len(computed) == 1
    assert (first.cases, len(first.top_variants), len(again.top_variants)) == (2, 1, 2)
    with clean_db.sessions.begin() as s:  # another provider's events change nothing here
        store_cases(s, {"X": ["placed"]}, provider="other")
    with clean_db.sessions() as s:
        assert discover(s, "shop", "order.id").cases == 2
    assert len(computed) == 1
    with clean_db.sessions.begin() as s:
        store_cases(s, {"C": ["placed"]})
    with clean_db.sessions() as s:
        assert discover(s, "shop", "order.id").cases == 3
    assert len(computed) == 2


def test_an_event_committed_late_by_a_transaction_open_during_discovery_counts(
    clean_db: Database, computed: list[int]
) -> None:
    with clean_db.sessions.begin() as s:
        store_cases(s, {"A": ["placed"]})
    with clean_db.sessions() as writer:
        uncommitted(writer, "B")  # its sequence values come before discovery's
        with clean_db.sessions() as reader:
            assert discover(reader, "shop", "order.id").cases == 1
        writer.commit()
    with clean_db.sessions() as reader:
        assert discover(reader, "shop", "order.id").cases == 2
    assert len(computed) == 2


def test_results_seen_by_a_writing_transaction_or_from_before_a_truncate_are_not_kept(
    session: Session, computed: list[int]
) -> None:
    uncommitted(session, "A")
    assert discover(session, "shop", "order.id").cases == 1  # its own, uncommitted events
    session.rollback()
    assert discover(session, "shop", "order.id").cases == 0
    uncommitted(session, "A")
    session.commit()
    assert discover(session, "shop", "order.id").cases == 1
    session.execute(text("truncate events"))
    session.commit()
    assert discover(session, "shop", "order.id").cases == 0
    assert len(computed) == 4


def test_a_result_is_dropped_when_retention_deletes_the_providers_events(
    clean_db: Database, computed: list[int]
) -> None:
    from datetime import timedelta

    from flowscope.retention.purge import run_retention

    with clean_db.sessions.begin() as s:
        store_cases(s, {"A": ["placed", "paid"], "B": ["placed"]})
    with clean_db.sessions() as s:
        assert discover(s, "shop", "order.id").cases == 2
    run_retention(clean_db, default_days=1, now=T0 + timedelta(days=3))
    with clean_db.sessions() as s:
        assert s.scalar(text("select count(*) from events")) == 0
        assert discover(s, "shop", "order.id").cases == 0
    assert len(computed) == 2
