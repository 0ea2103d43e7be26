"""Flat-keyed and nested-keyed events give the same correlation ids everywhere they are read:
the correlator, FQL, discovery (`flows suggest`) and the editor's preview."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from flowscope.db import Database
from flowscope.flows.definitions.discovery import discover
from flowscope.flows.definitions.preview import preview
from flowscope.ingest.schemas import NewEvent
from flowscope.query.service import run_query
from tests.flows.correlation_support import PROVIDER, drain, ingest, instances, make_flow

NOW = datetime.now(UTC).replace(microsecond=0)
PLACED, PAID = "order.placed", "payment.captured"

# (type, attributes): every way an order id may be written, and ways it does not correlate.
EVENTS: list[tuple[str, dict[str, Any]]] = [
    (PLACED, {"order.id": "A"}),  # flat only
    (PAID, {"order.id": "A"}),
    (PLACED, {"order": {"id": "B"}}),  # nested only
    (PAID, {"order": {"id": "B"}}),
    (PLACED, {"order.id": "C"}),  # flat, then nested, for the same order
    (PAID, {"order": {"id": "C"}}),
    (PLACED, {"order.id": "D", "order": {"id": "decoy"}}),  # the flat key wins
    (PLACED, {"order": {"id": 42}}),  # a number correlates as its digits
    (PLACED, {"order": {"id": True}}),  # these do not correlate
    (PLACED, {"order.id": ""}),
    (PLACED, {"order": {"id": {"nested": "E"}}}),
    (PLACED, {"order": [{"id": "F"}]}),
]
IDS = {"A", "B", "C", "D", "42"}
UNCORRELATED = 4


@pytest.fixture
def stored(clean_db: Database) -> Database:
    ingest(
        clean_db,
        [
            NewEvent(PROVIDER, f"e{n}", type_, NOW - timedelta(hours=2, minutes=-n), attributes)
            for n, (type_, attributes) in enumerate(EVENTS)
        ],
    )
    return clean_db


def test_the_correlator_reads_flat_and_nested_ids(stored: Database) -> None:
    make_flow(stored)
    drain(stored)
    found = instances(stored)
    assert set(found) == IDS
    assert set(found["C"]["steps"]) == {"placed", "paid"}


def test_fql_reads_flat_and_nested_ids(stored: Database) -> None:
    with stored.sessions() as session:
        result = run_query(
            session,
            "fetch bizevents | summarize n = count(), by: {order.id}",
            time_from="-1d",
        )
        # FQL keeps every value as it is (a query may group by anything); the ids are there.
        assert sorted((repr(v), n) for v, n in result.rows) == sorted(
            [("'A'", 2), ("'B'", 2), ("'C'", 2), ("'D'", 1), ("42", 1)]
            + [("''", 1), ("True", 1), ("{'nested': 'E'}", 1), ("None", 1)]
        )
        flat = run_query(session, 'fetch bizevents | filter order.id == "D"', time_from="-1d")
        assert flat.row_count == 1
        nested = run_query(session, 'fetch bizevents | filter order.id == "C"', time_from="-1d")
        assert nested.row_count == 2


def test_discovery_and_the_preview_read_flat_and_nested_ids(stored: Database) -> None:
    definition = make_flow(stored)
    with stored.sessions() as session:
        found = discover(session, PROVIDER, "order.id")
        seen = preview(session, definition, days=1)
    assert found.cases == len(IDS)
    assert found.events == len(EVENTS) - UNCORRELATED
    assert (seen.flows, seen.events, seen.uncorrelated) == (len(IDS), len(EVENTS), UNCORRELATED)
    assert {s.key: s.flows for s in seen.steps} == {"placed": 5, "paid": 3, "shipped": 0}


def test_flows_suggest_finds_flat_keyed_events(clean_db: Database, database_url: str) -> None:
    flat = "legacy.shop"  # sends only flat keys: nothing nested to fall back on
    ingest(
        clean_db,
        [
            NewEvent(
                flat, f"{order}-{type_}", type_, NOW - timedelta(minutes=m), {"order.id": order}
            )
            for order in ("A", "B")
            for type_, m in ((PLACED, 10), (PAID, 5))
        ],
    )
    env = {**os.environ, "FLOWSCOPE_DATABASE_URL": database_url, "FLOWSCOPE_ENV": "test"}
    result = subprocess.run(
        [sys.executable, "-m", "flowscope", "flows", "suggest", flat, "--correlation", "order.id"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    draft = yaml.safe_load(result.stdout)
    assert draft["correlation"] == "order.id"
    assert [s["events"][0]["type"] for s in draft["steps"]] == [PLACED, PAID]
