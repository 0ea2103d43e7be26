"""Oracle: real event logs correlated by Flowscope must give the figures an independent
process-mining library (pm4py, see tests/data/README.md) computed from the same files: the
WABO receipt phase, ingested as events, and the help desk log, imported from its XES file
with `import_event_log` before its flow exists (so the first build reads stored events)."""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from flowscope.db import Database
from flowscope.ingest.eventlog import import_event_log
from flowscope.ingest.schemas import NewEvent
from tests.fixtures.logs import data_file
from tests.flows.correlation_support import drain, ingest, make_flow

CASE = "case:concept:name"
ACTIVITY = "concept:name"
TIME = "time:timestamp"
DURATIONS = ("mean_case_duration_s", "median_case_duration_s")


def oracle(name: str) -> dict[str, Any]:
    expected: dict[str, Any] = json.loads(data_file(f"{name}.expected.json").read_text())
    return expected


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
    return events, oracle("receipt")


def step_key(activity: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", activity)[:64]


def define_flow(
    db: Database,
    traces: Iterable[Sequence[str]],
    *,
    slug: str,
    provider: str,
    correlation: str,
) -> dict[str, str]:
    """One step per activity (in order of first appearance); edges are the directly-follows
    pairs of the traces (each a case's activities in time order). Step key → activity."""
    activities: dict[str, None] = {}
    edges: set[tuple[str, str]] = set()
    for trace in traces:
        activities.update(dict.fromkeys(trace))
        edges.update((step_key(a), step_key(b)) for a, b in zip(trace, trace[1:], strict=False))
    make_flow(
        db,
        slug=slug,
        name=slug.title(),
        providers=[provider],
        correlation=correlation,
        steps=[{"key": step_key(a), "name": a, "events": [{"type": a}]} for a in activities],
        edges=[{"from": s, "to": t} for s, t in sorted(edges)],
    )
    return {step_key(a): a for a in activities}


def receipt_traces(events: list[NewEvent]) -> list[list[str]]:
    by_case: dict[str, list[NewEvent]] = {}
    for e in events:
        by_case.setdefault(e.attributes[CASE], []).append(e)
    # sorted() is stable: events with equal timestamps keep their order in the file
    return [[e.type for e in sorted(case, key=lambda e: e.timestamp)] for case in by_case.values()]


def define_receipt_flow(db: Database, events: list[NewEvent]) -> dict[str, str]:
    return define_flow(
        db, receipt_traces(events), slug="receipt", provider="wabo.receipt", correlation=CASE
    )


def _figures(db: Database, names: dict[str, str]) -> dict[str, Any]:
    """The current build's figures in the oracle's shape; the top-N lists are cut with the
    oracle's rule (count descending, then name)."""
    build = "(select id from flow_builds where state = 'ready' order by id desc limit 1)"
    with db.sessions() as s:
        cases, events, mean, median = s.execute(
            text(
                f"select count(*), sum(event_count), avg(duration_s), "  # noqa: S608
                f"percentile_cont(0.5) within group (order by duration_s) "
                f"from flow_instances where build_id = {build}"
            )
        ).one()
        steps = s.execute(
            text(
                f"select step, count(*), sum(count) from flow_instance_steps "  # noqa: S608
                f"where build_id = {build} group by step"
            )
        ).all()
        edges = s.execute(
            text(
                f"select source, target, count(*) from flow_transitions where build_id = {build} "  # noqa: S608
                "group by source, target"
            )
        ).all()
        variants = s.execute(
            text(
                f"select variant, count(*) from flow_instances where build_id = {build} "  # noqa: S608
                "group by variant"
            )
        ).all()
    by_variant = {tuple(names[k] for k in v): n for v, n in variants}
    by_edge = {(names[a], names[b]): n for a, b, n in edges}
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    for variant, n in by_variant.items():
        starts[variant[0]] = starts.get(variant[0], 0) + n
        ends[variant[-1]] = ends.get(variant[-1], 0) + n
    return {
        "cases": cases,
        "events": events,
        "activities": len(steps),
        "variants": len(by_variant),
        "df_edges": len(by_edge),
        "start_activities": starts,
        "end_activities": ends,
        "mean_case_duration_s": float(mean),
        "median_case_duration_s": float(median),
        "activity_events": {names[k]: int(n) for k, _, n in steps},
        "activity_cases": {names[k]: n for k, n, _ in steps},
        "top_variants": [
            [list(v), n] for v, n in sorted(by_variant.items(), key=lambda vn: (-vn[1], vn[0]))[:5]
        ],
        "top_edges": [
            [a, b, n] for (a, b), n in sorted(by_edge.items(), key=lambda en: (-en[1], en[0]))[:10]
        ],
    }


def assert_matches_oracle(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every figure of the oracle file: counts exactly, durations at the oracle's 3 decimals."""
    assert got.keys() == expected.keys()
    for key in DURATIONS:
        assert got[key] == pytest.approx(expected[key], abs=0.01), key
    assert {k: v for k, v in got.items() if k not in DURATIONS} == {
        k: v for k, v in expected.items() if k not in DURATIONS
    }


def test_receipt_log_matches_the_process_mining_oracle(
    clean_db: Database, receipt: tuple[list[NewEvent], dict[str, Any]]
) -> None:
    events, expected = receipt
    names = define_receipt_flow(clean_db, events)
    ingest(clean_db, events)
    drain(clean_db, batch_size=2000)
    assert_matches_oracle(_figures(clean_db, names), expected)


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
    for key in ("cases", "events", "activity_cases", "activity_events"):
        assert got[key] == expected[key], key
    for key in DURATIONS:
        assert got[key] == pytest.approx(expected[key], abs=0.01), key


def stored_traces(db: Database, provider: str) -> list[list[str]]:
    """Each case's activities as stored, in time order (ties in ingest order, i.e. file order)."""
    with db.sessions() as s:
        rows = s.execute(
            text(
                "select attributes #>> '{case,id}', type from events where provider = :p "
                "order by attributes #>> '{case,id}', timestamp, seq"
            ),
            {"p": provider},
        ).all()
    traces: dict[str, list[str]] = {}
    for case_id, activity in rows:
        traces.setdefault(case_id, []).append(activity)
    return list(traces.values())


def test_helpdesk_log_imported_then_correlated_matches_the_oracle(clean_db: Database) -> None:
    expected = oracle("helpdesk")
    with clean_db.sessions.begin() as session:
        result = import_event_log(session, data_file("helpdesk.xes.gz"), "helpdesk")
    assert (result.stored, result.rejected) == (expected["events"], 0)
    names = define_flow(
        clean_db,
        stored_traces(clean_db, "helpdesk"),
        slug="helpdesk",
        provider="helpdesk",
        correlation="case.id",
    )
    drain(clean_db)
    assert_matches_oracle(_figures(clean_db, names), expected)
