"""States are derived at read time from the stored timestamps and the step's timeouts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from flowscope.db import Database
from flowscope.flows.analysis.states import STATES, state_sql, state_where
from tests.flows.correlation_support import T0, drain, event, ingest, make_flow
from tests.flows.factories import make_shop_flow


def states_at(db: Database, now: datetime) -> dict[str, str]:
    with db.sessions() as s:
        rows = s.execute(
            text(f"select i.correlation_id, {state_sql('i')} from flow_instances i"),  # noqa: S608
            {"now": now},
        ).all()
        by_state = {
            state: set(
                s.scalars(
                    text(
                        f"select i.correlation_id from flow_instances i where {state_where(state)}"
                    ),  # noqa: S608
                    {"now": now},
                )
            )
            for state in STATES
        }
    result: dict[str, str] = {str(cid): str(state) for cid, state in rows}
    # The filter and the expression are the same rule: every instance in exactly one state.
    for state, ids in by_state.items():
        assert ids == {cid for cid, got in result.items() if got == state}
    return result


@pytest.fixture
def timed_flow(clean_db: Database) -> Database:
    make_shop_flow(
        clean_db,
        timeouts={"stall": "1h", "drop": "24h"},
        paid={
            "timeouts": {"stall": "10m", "drop": "2h"},
            "exceptions": [{"name": "slow", "field": "slow", "op": "eq", "value": True}],
        },
    )
    ingest(
        clean_db,
        [
            event("P", "order.placed", 0),
            event("Q", "order.placed", 0),
            event("Q", "payment.captured", 5),
            event("E", "order.placed", 0),
            event("E", "payment.captured", 5, attrs={"slow": True}),
            event("C", "order.placed", 0),
            event("C", "parcel.shipped", 1),
        ],
    )
    drain(clean_db)
    return clean_db


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (10, {"P": "in_progress", "Q": "in_progress", "E": "in_progress", "C": "completed"}),
        (20, {"P": "in_progress", "Q": "stalled", "E": "stalled", "C": "completed"}),
        (90, {"P": "stalled", "Q": "stalled", "E": "stalled", "C": "completed"}),
        (3 * 60, {"P": "stalled", "Q": "dropped", "E": "dropped", "C": "completed"}),
        (25 * 60, {"P": "dropped", "Q": "dropped", "E": "dropped", "C": "completed"}),
        (100 * 24 * 60, {"P": "dropped", "Q": "dropped", "E": "dropped", "C": "completed"}),
    ],
)
def test_state_follows_the_clock_and_the_step_timeouts(
    timed_flow: Database, minutes: int, expected: dict[str, str]
) -> None:
    assert states_at(timed_flow, T0 + timedelta(minutes=minutes)) == expected


def test_the_exact_timeout_is_not_yet_over(timed_flow: Database) -> None:
    assert states_at(timed_flow, T0 + timedelta(hours=1))["P"] == "in_progress"
    assert states_at(timed_flow, T0 + timedelta(hours=1, microseconds=1))["P"] == "stalled"


def test_exception_flag_is_orthogonal_to_the_state(timed_flow: Database) -> None:
    with timed_flow.sessions() as s:
        flagged = set(
            s.scalars(text("select correlation_id from flow_instances where has_exception"))
        )
    assert flagged == {"E"}
    assert states_at(timed_flow, T0 + timedelta(minutes=20))["E"] == "stalled"


def test_a_flow_without_a_drop_timeout_never_drops(clean_db: Database) -> None:
    make_flow(clean_db, timeouts={"stall": "1h"})
    ingest(clean_db, [event("A", "order.placed", 0)])
    drain(clean_db)
    assert states_at(clean_db, T0 + timedelta(days=400)) == {"A": "stalled"}
