"""`fetch flows`: one row per flow instance of the current build, state read at "now"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import text

from flowscope.db import Database
from flowscope.flows.analysis.notebook import flow_query
from flowscope.flows.definitions.service import definition_of, get_flow, save_flow
from flowscope.query.service import QueryResult, run_query
from tests.flows.correlation_support import T0, drain, event, ingest
from tests.flows.factories import make_shop_flow

NOW = T0 + timedelta(minutes=130)
FROM = (T0 - timedelta(hours=1)).isoformat()


@pytest.fixture
def shop(clean_db: Database) -> Database:
    """A completed order (A), a declined one idle 115 min (B, stalled), a fresh one (C,
    in progress) and one idle 129 min (D, dropped); stall after 30 min, drop after 2 h."""
    make_shop_flow(clean_db, tier=True, timeouts={"stall": "30m", "drop": "2h"})
    ingest(
        clean_db,
        [
            event("A", "order.placed", 0, attrs={"tier": "gold", "order": {"total": 100}}),
            event("A", "payment.captured", 5),
            event("A", "parcel.shipped", 20),
            event("B", "order.placed", 10, attrs={"tier": "silver", "order": {"total": 50}}),
            event("B", "payment.declined", 15),
            event("C", "order.placed", 125, attrs={"tier": "gold", "order": {"total": 30}}),
            event("D", "order.placed", 1, attrs={"tier": "bronze"}),
        ],
    )
    drain(clean_db)
    return clean_db


def run(db: Database, text: str, **kwargs: Any) -> QueryResult:
    with db.sessions() as session:
        return run_query(session, text, time_from=FROM, now=NOW, **kwargs)


def records(result: QueryResult) -> list[dict[str, Any]]:
    names = [c["name"] for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def test_one_row_per_instance_with_state_duration_revenue_and_exception(shop: Database) -> None:
    result = run(
        shop,
        "fetch flows | sort correlationId | fields correlationId, flow, state, step, "
        "duration, revenue, exception, exception.step, exception.name, events",
    )
    assert records(result) == [
        {
            "correlationId": "A",
            "flow": "orders",
            "state": "completed",
            "step": "shipped",
            "duration": 20 * 60 * 10**9,
            "revenue": 100,
            "exception": False,
            "exception.step": None,
            "exception.name": None,
            "events": 3,
        },
        {
            "correlationId": "B",
            "flow": "orders",
            "state": "stalled",
            "step": "paid",
            "duration": 5 * 60 * 10**9,
            "revenue": 50,
            "exception": True,
            "exception.step": "paid",
            "exception.name": "declined",
            "events": 2,
        },
        {
            "correlationId": "C",
            "flow": "orders",
            "state": "in_progress",
            "step": "placed",
            "duration": 0,
            "revenue": 30,
            "exception": False,
            "exception.step": None,
            "exception.name": None,
            "events": 1,
        },
        {
            "correlationId": "D",
            "flow": "orders",
            "state": "dropped",
            "step": "placed",
            "duration": 0,
            "revenue": None,
            "exception": False,
            "exception.step": None,
            "exception.name": None,
            "events": 1,
        },
    ]
    assert {c["name"]: c["type"] for c in result.columns}["duration"] == "duration"


def test_started_and_ended_are_first_and_last_event(shop: Database) -> None:
    result = run(shop, 'fetch flows | filter correlationId == "A" | fields started, ended')
    assert records(result) == [
        {"started": T0.isoformat(), "ended": (T0 + timedelta(minutes=20)).isoformat()}
    ]


def test_properties_by_dotted_path_or_plain_name(shop: Database) -> None:
    dotted = run(
        shop,
        'fetch flows | filter properties.tier == "gold" | summarize n = count(), '
        "revenue = sum(revenue)",
    )
    plain = run(shop, "fetch flows | summarize n = count(), by: {tier} | sort tier")
    assert records(dotted) == [{"n": 2, "revenue": 130}]
    assert records(plain) == [
        {"tier": "bronze", "n": 1},
        {"tier": "gold", "n": 2},
        {"tier": "silver", "n": 1},
    ]


def test_states_summarize_at_query_time(shop: Database) -> None:
    result = run(shop, "fetch flows | summarize n = count(), by: {state} | sort state")
    assert records(result) == [
        {"state": "completed", "n": 1},
        {"state": "dropped", "n": 1},
        {"state": "in_progress", "n": 1},
        {"state": "stalled", "n": 1},
    ]
    # 21 min after T0 nothing idles 30 min yet: B and D are in progress, A is completed and
    # C has not started (the timeframe ends at "now")
    with shop.sessions() as session:
        early = run_query(
            session,
            'fetch flows | filter state == "in_progress" | summarize n = count()',
            time_from=FROM,
            now=T0 + timedelta(minutes=21),
        )
    assert records(early) == [{"n": 2}]


def test_from_and_to_apply_to_the_start(shop: Database) -> None:
    result = run(
        shop,
        f'fetch flows, from: "{(T0 + timedelta(minutes=5)).isoformat()}" '
        "| sort correlationId | fields correlationId",
    )
    assert [r["correlationId"] for r in records(result)] == ["B", "C"]


def test_only_the_current_build_is_read_after_a_rebuild(shop: Database) -> None:
    with shop.sessions.begin() as session:
        flow = get_flow(session, "orders")
        definition = definition_of(flow).model_copy(update={"name": "Orders v2"})
        save_flow(session, definition, "test")
    drain(shop)
    with shop.sessions() as session:
        states = list(session.execute(text("select state from flow_builds order by id")).scalars())
    assert len(states) == 2
    assert states == ["retired", "ready"]
    result = run(shop, "fetch flows | summarize n = count(), flows = countDistinct(flow)")
    assert records(result) == [{"n": 4, "flows": 1}]


def test_steps_lists_the_steps_reached_and_those_with_an_exception(shop: Database) -> None:
    result = run(
        shop, "fetch flows | sort correlationId | fields correlationId, steps, exception.steps"
    )
    assert records(result) == [
        {"correlationId": "A", "steps": ["placed", "paid", "shipped"], "exception.steps": []},
        {"correlationId": "B", "steps": ["placed", "paid"], "exception.steps": ["paid"]},
        {"correlationId": "C", "steps": ["placed"], "exception.steps": []},
        {"correlationId": "D", "steps": ["placed"], "exception.steps": []},
    ]


@pytest.mark.parametrize(("step", "status"), [("paid", None), ("paid", "exception")])
def test_the_notebook_link_of_a_step_counts_what_the_drill_down_counts(
    shop: Database, step: str, status: str | None
) -> None:
    link = flow_query("orders", T0 - timedelta(hours=1), NOW, step=step, status=status)
    assert link is not None
    query = parse_qs(link)["q"][0]
    got = run(shop, query + " | summarize n = count()")
    extra = " and s.exception is not null" if status else ""
    with shop.sessions() as session:
        want = session.execute(
            text(f"select count(*) from flow_instance_steps s where s.step = :step{extra}"),
            {"step": step},
        ).scalar_one()
    assert records(got) == [{"n": want}]
    assert want == (1 if status else 2)
