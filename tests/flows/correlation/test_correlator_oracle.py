"""Oracle: a real event log (WABO receipt phase) correlated by Flowscope must give the figures
an independent process-mining library computed from the same file
(/work/shared/data/receipt.expected.json)."""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from tests.fixtures.logs import data_file
from tests.flows.correlation_support import drain, ingest, make_flow

CASE = "case:concept:name"
ACTIVITY = "concept:name"
TIME = "time:timestamp"


@pytest.fixture(scope="module")
def receipt() -> tuple[list[NewEvent], dict[str, Any]]:
    events = []
    with gzip.open(data_file("receipt.csv.gz"), "rt", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            attributes = {k: v for k, v in row.items() if k not in (ACTIVITY, TIME) and v != ""}
            events.append(
                NewEvent(
                    provider="wabo.receipt",
                    event_id=f"receipt-{i}",
                    type=row[ACTIVITY],
                    timestamp=datetime.fromisoformat(row[TIME]),
                    attributes=attributes,
                )
            )
    expected = json.loads(data_file("receipt.expected.json").read_text())
    return events, expected


def step_key(activity: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", activity)[:64]


def define_receipt_flow(db: Database, events: list[NewEvent]) -> dict[str, str]:
    """One step per activity; edges are the directly-follows pairs seen in the data."""
    activities = list(dict.fromkeys(e.type for e in events))
    by_case: dict[str, list[NewEvent]] = {}
    for e in events:
        by_case.setdefault(e.attributes[CASE], []).append(e)
    edges: set[tuple[str, str]] = set()
    for case_events in by_case.values():
        ordered = sorted(case_events, key=lambda e: e.timestamp)  # stable: ties keep file order
        edges.update(
            (step_key(a.type), step_key(b.type)) for a, b in zip(ordered, ordered[1:], strict=False)
        )
    make_flow(
        db,
        slug="receipt",
        name="Receipt phase",
        providers=["wabo.receipt"],
        correlation=CASE,
        steps=[{"key": step_key(a), "name": a, "events": [{"type": a}]} for a in activities],
        edges=[{"from": s, "to": t} for s, t in sorted(edges)],
    )
    return {step_key(a): a for a in activities}


def _figures(db: Database, names: dict[str, str]) -> dict[str, Any]:
    build = "(select id from flow_builds where state = 'ready' order by id desc limit 1)"
    with db.sessions() as s:
        cases, events, variants, mean, median = s.execute(
            text(
                f"select count(*), sum(event_count), count(distinct variant), avg(duration_s), "  # noqa: S608
                f"percentile_cont(0.5) within group (order by duration_s) "
                f"from flow_instances where build_id = {build}"
            )
        ).one()
        steps = s.execute(
            text(
                f"select step, count(*) from flow_instance_steps where build_id = {build} "  # noqa: S608
                "group by step"
            )
        ).all()
        edges = s.execute(
            text(
                f"select source, target, count(*) from flow_transitions where build_id = {build} "  # noqa: S608
                "group by source, target"
            )
        ).all()
        top = s.execute(
            text(
                f"select variant, count(*) from flow_instances where build_id = {build} "  # noqa: S608
                "group by variant order by count(*) desc limit 5"
            )
        ).all()
    return {
        "cases": cases,
        "events": events,
        "variants": variants,
        "mean": mean,
        "median": median,
        "activity_cases": {names[k]: n for k, n in steps},
        "edges": {(names[a], names[b]): n for a, b, n in edges},
        "top_variants": [([names[k] for k in v], n) for v, n in top],
    }


def test_receipt_log_matches_the_process_mining_oracle(
    clean_db: Database, receipt: tuple[list[NewEvent], dict[str, Any]]
) -> None:
    events, expected = receipt
    names = define_receipt_flow(clean_db, events)
    ingest(clean_db, events)
    drain(clean_db, batch_size=2000)
    got = _figures(clean_db, names)
    assert got["cases"] == expected["cases"]
    assert got["activity_cases"] == expected["activity_cases"]
    assert got["events"] == expected["events"]
    assert got["variants"] == expected["variants"]
    assert len(got["edges"]) == expected["df_edges"]
    for source, target, count in expected["top_edges"]:
        assert got["edges"][(source, target)] == count
    assert got["top_variants"] == [(v, n) for v, n in expected["top_variants"]]
    assert got["mean"] == pytest.approx(expected["mean_case_duration_s"], abs=0.01)
    assert got["median"] == pytest.approx(expected["median_case_duration_s"], abs=0.01)


def test_receipt_log_shuffled_in_chunks_gives_the_same_cases(
    clean_db: Database, receipt: tuple[list[NewEvent], dict[str, Any]]
) -> None:
    """Arrival order and batching do not matter (ties in time aside, which follow ingest order)."""
    events, expected = receipt
    names = define_receipt_flow(clean_db, events)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    for start in range(0, len(shuffled), 1500):
        ingest(clean_db, shuffled[start : start + 1500])
        drain(clean_db, batch_size=700)
    got = _figures(clean_db, names)
    assert got["cases"] == expected["cases"]
    assert got["activity_cases"] == expected["activity_cases"]
    assert got["events"] == expected["events"]
