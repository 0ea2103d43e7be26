"""Property: the rollups the correlator keeps always equal a from-scratch aggregation of the
instance tables, and the flow page's figures read from them equal the exact computation from
the instance rows (counts and sums exactly, percentiles within the sketch's 1 %), for any
arrival order, batching, duplicates, exceptions, loops, timeframe, "now", and after a
definition edit that rebuilds the flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowscope.db import Database
from flowscope.flows.analysis import drilldown, exact, kpis
from flowscope.flows.analysis.context import load_flow_context
from flowscope.flows.definitions.service import get_flow
from flowscope.ingest.schemas import NewEvent
from tests.conftest import _truncate_all
from tests.flows.analysis.rollup_support import comparable, from_scratch, stored
from tests.flows.correlation.test_correlator_properties import BASE, DEFINITION
from tests.flows.correlation_support import T0, drain, event, ingest, make_flow

# Minutes over ~2.5 days from 12:00: hour and UTC day boundaries are crossed.
entries = st.lists(
    st.tuples(
        st.sampled_from(["o1", "o2", "o3", "o4", "o5", "o6"]),
        st.sampled_from(["a", "b", "c", "d", "c.failed", "unrelated"]),
        st.one_of(st.integers(0, 3600), st.integers(700, 760)),  # clusters near midnight
        st.integers(0, 9),  # amount: 5 and more is an exception at c
        st.sampled_from(["gold", "silver"]),
    ),
    min_size=1,
    max_size=30,
)
minutes = st.integers(-600, 4000)


def build_id(db: Database, slug: str = "flow") -> int:
    with db.sessions() as s:
        build = load_flow_context(s, get_flow(s, slug)).build
        assert build is not None
        return build.id


def check_windows(db: Database, data: st.DataObject, slug: str = "flow") -> None:
    for _ in range(4):
        start = T0 + timedelta(minutes=data.draw(minutes, label="from"))
        length = data.draw(
            st.one_of(st.integers(1, 4000), st.sampled_from([60, 1440, 2880])), label="length"
        )
        aligned = data.draw(st.booleans(), label="start on the hour")
        if aligned:
            start = start.replace(minute=0)
        now = T0 + timedelta(minutes=data.draw(st.integers(0, 6000), label="now"))
        with db.sessions() as s:
            flow = load_flow_context(s, get_flow(s, slug))
            end = start + timedelta(minutes=length)
            fast = kpis.flow_analysis(s, flow, start=start, end=end, now=now)
            slow = exact.flow_analysis(s, flow, start=start, end=end, now=now)
            # the drill-down's total, from the rollups, for every status and step
            assert flow.build is not None
            for status in (None, "completed", "in_progress", "stalled", "dropped", "exception"):
                for step in (None, *(defined.key for defined in flow.definition.steps)):
                    filters = drilldown.InstanceFilter(
                        step=step, status=status, start=start, end=end
                    )
                    counted = drilldown.count_instances(s, flow, filters, now=now)
                    scanned = drilldown.count_exactly(s, flow.build.id, filters, now)
                    assert counted == scanned, (status, step)
        assert comparable(fast) == comparable(slow)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(log=entries, data=st.data())
def test_rollups_equal_a_fresh_aggregation_and_the_exact_figures(
    clean_db: Database, log: list[tuple[str, str, int, int, str]], data: st.DataObject
) -> None:
    _truncate_all(clean_db)
    definition: dict[str, Any] = {"slug": "flow", "name": "Flow", **BASE, **DEFINITION}
    definition["timeouts"] = {"stall": "30m", "drop": "3h"}
    make_flow(clean_db, **definition)
    events: list[NewEvent] = [
        event(cid, type_, minute, attrs={"amount": amount, "tier": tier})
        for cid, type_, minute, amount, tier in log
    ]
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=5), label="duplicates")
    arrival = data.draw(st.permutations(events + duplicates), label="arrival order")
    position = 0
    while position < len(arrival):
        size = data.draw(st.integers(1, len(arrival) - position), label="ingest chunk")
        ingest(clean_db, arrival[position : position + size])
        position += size
        drain(clean_db, batch_size=data.draw(st.integers(1, 8), label="batch size"))
        first = build_id(clean_db)
        assert stored(clean_db, first) == from_scratch(clean_db, first)
    check_windows(clean_db, data)

    # A definition edit: the rebuild fills its own rollups, which switch with the build.
    definition["timeouts"] = {"stall": data.draw(st.sampled_from(["10m", "2h"])), "drop": "1d"}
    make_flow(clean_db, **definition)
    drain(clean_db, batch_size=data.draw(st.integers(1, 50), label="rebuild batch size"))
    second = build_id(clean_db)
    assert second != first
    assert stored(clean_db, second) == from_scratch(clean_db, second)
    assert stored(clean_db, first) == {}  # the retired build's rows are purged
    check_windows(clean_db, data)
