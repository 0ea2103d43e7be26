"""makeTimeseries has two SQL forms (`query.timeseries._per_group`): PostgreSQL's join of the
grid with each group's bins, and Citus' read of each group's bins by key (Citus 13.2 crashes on
the join). Both are valid on plain PostgreSQL, so here every makeTimeseries query of the DQL
corpus, and a few that reach each branch of an element (counts, averages, `default:`, null
group keys, JSON values), runs in both forms and must answer the same rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.cluster.engine import Engine
from flowscope.db import Database
from flowscope.query.errors import QueryError
from flowscope.query.service import compile_text, execute
from tests.query.data import NOW, ingest, make_events
from tests.query.dql_corpus import CORPUS

OWN = [
    "fetch bizevents | makeTimeseries n = count(), interval: 10m",
    "fetch bizevents | makeTimeseries {n = count(), a = avg(amount)}, by: {event.type}",
    "fetch bizevents | makeTimeseries s = sum(amount, default: 0), by: {currency}, interval: 1h",
    "fetch bizevents | makeTimeseries m = max(amount), by: {missing.field}, bins: 30",
    "fetch bizevents | makeTimeseries a = avg(amount), interval: 5m | fieldsAdd peak = arrayMax(a)",
]
SERIES = [q for _, q in CORPUS if "makeTimeseries" in q] + OWN


def _rows(session: Session, query: str, engine: Engine) -> list[tuple[Any, ...]]:
    compiled = compile_text(query, time_from="-24h", now=NOW, engine=engine)
    rows, _, _ = execute(session, compiled.sql, compiled.params, 10.0, 10_001, 50_000_000)
    return rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


@pytest.fixture(scope="module")
def seeded(database: Database) -> Iterator[Database]:
    """The corpus' events, stored once for every query of this module."""
    with database.sessions() as session:
        ingest(session, make_events())
        session.commit()
    yield database
    with database.sessions() as session:
        session.execute(text("truncate events cascade"))
        session.commit()


def test_the_corpus_has_time_series_to_compare() -> None:
    assert len(SERIES) >= 10


@pytest.mark.parametrize("query", SERIES)
def test_both_forms_answer_the_same_rows(seeded: Database, query: str) -> None:
    with seeded.sessions() as session:
        try:
            postgres = _rows(session, query, Engine.postgres)
        except QueryError:
            pytest.skip("FQL refuses this corpus query (the corpus test reports it)")
        session.rollback()
        citus = _rows(session, query, Engine.citus)
    assert postgres, query
    assert _same(postgres, citus), query
