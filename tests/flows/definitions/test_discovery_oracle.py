"""The proof on real logs: import them, discover, and compare with an independent library.

The expected figures (`tests/data/*.expected.json`) were computed from the same files by pm4py;
see tests/data/README.md. Equality is exact; durations are compared at the three decimals the
oracle gives. Every count comes from those files, none is repeated here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from flowscope.db import Database
from flowscope.flows.definitions.discovery import Discovery, discover, suggest_flow
from flowscope.ingest.eventlog import ImportResult, import_event_log
from tests.fixtures.logs import data_file

LOGS = {"helpdesk": "helpdesk.xes.gz", "receipt": "receipt.csv.gz"}


@pytest.fixture(scope="module")
def imported(database: Database) -> Iterator[dict[str, ImportResult]]:
    """Both logs imported once for the module, removed afterwards."""
    results = {}
    try:
        for provider, name in LOGS.items():
            with database.sessions.begin() as session:
                results[provider] = import_event_log(session, data_file(name), provider)
        yield results
    finally:
        with database.engine.begin() as conn:
            conn.execute(text("truncate events restart identity"))


def as_oracle(found: Discovery) -> dict[str, Any]:
    """Our result in the oracle's shape."""
    assert found.mean_case_duration_s is not None
    assert found.median_case_duration_s is not None
    return {
        "cases": found.cases,
        "events": found.events,
        "activities": found.activities,
        "variants": found.variants,
        "df_edges": len(found.edges),
        "start_activities": found.start_activities,
        "end_activities": found.end_activities,
        "mean_case_duration_s": round(found.mean_case_duration_s, 3),
        "median_case_duration_s": round(found.median_case_duration_s, 3),
        "activity_events": {a.name: a.events for a in found.activity_stats},
        "activity_cases": {a.name: a.cases for a in found.activity_stats},
        "top_variants": [[v.activities, v.count] for v in found.top_variants[:5]],
        "top_edges": [[e.source, e.target, e.count] for e in found.edges[:10]],
    }


@pytest.mark.parametrize("provider", sorted(LOGS))
def test_discovery_of_real_log_equals_the_oracle(
    provider: str, imported: dict[str, ImportResult], database: Database
) -> None:
    expected = json.loads(data_file(f"{provider}.expected.json").read_text())
    result = imported[provider]
    assert (result.read, result.stored, result.present, result.rejected) == (
        expected["events"],
        expected["events"],
        0,
        0,
    )
    with database.sessions() as session:
        found = discover(session, provider, "case.id", top_variants=5)
    assert as_oracle(found) == expected


def test_importing_a_log_again_stores_nothing_new(
    imported: dict[str, ImportResult], database: Database
) -> None:
    events = json.loads(data_file("helpdesk.expected.json").read_text())["events"]
    with database.sessions.begin() as session:
        again = import_event_log(session, data_file(LOGS["helpdesk"]), "helpdesk")
    assert (again.read, again.stored, again.present) == (events, 0, events)
    with database.sessions() as session:
        count = session.scalar(text("select count(*) from events where provider = 'helpdesk'"))
    assert count == events


def test_attributes_of_real_log_follow_the_mapping(
    imported: dict[str, ImportResult], database: Database
) -> None:
    with database.sessions() as session:
        row = session.execute(
            text(
                "select event_id, type, timestamp, attributes from events "
                "where provider = 'receipt' order by seq limit 1"
            )
        ).one()
    assert row.event_id == "case-10011:0"
    assert row.type == "Confirmation of receipt"
    assert row.timestamp.isoformat() == "2011-10-11T11:45:40.276000+00:00"
    assert row.attributes["case"] == {
        "id": "case-10011",
        "channel": "Internet",
        "deadline": "2011-12-06 13:41:31.788000+01:00",
        "department": "General",
        "enddate_planned": "2011-12-06 13:41:31.788000+01:00",
        "group": "Group 2",
        "responsible": "Resource21",
        "startdate": "2011-10-11 13:42:22.688000+02:00",
    }
    assert row.attributes["org:resource"] == "Resource21"
    assert row.attributes["lifecycle:transition"] == "complete"
    assert "concept:name" not in row.attributes
    assert "time:timestamp" not in row.attributes


@pytest.mark.parametrize("provider", sorted(LOGS))
def test_suggested_flow_of_real_log_has_a_step_per_activity(
    provider: str, imported: dict[str, ImportResult], database: Database
) -> None:
    with database.sessions() as session:
        found = discover(session, provider, "case.id")
    draft = suggest_flow(found, provider, provider.title(), provider, "case.id")
    assert sorted(m.type for s in draft.steps for m in s.events) == sorted(
        a.name for a in found.activity_stats
    )
    assert found.start_activities.get(draft.steps[0].events[0].type, 0) > 0
    # every kept edge is a directly-follows pair that was really seen
    seen = {(e.source, e.target) for e in found.edges}
    types = {s.key: s.events[0].type for s in draft.steps}
    assert draft.edges is not None
    assert {(types[e.source], types[e.target]) for e in draft.edges} <= seen
