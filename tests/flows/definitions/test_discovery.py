from __future__ import annotations

import statistics
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.errors import FlowscopeError
from flowscope.flows.definitions.discovery import Discovery, discover, suggest_flow
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.flows.factories import T0, store_cases


def test_events_with_equal_timestamps_keep_their_stored_order(session: Session) -> None:
    store_cases(session, {"A": [("placed", 0), ("paid", 5), ("packed", 5), ("shipped", 9)]})
    store_cases(session, {"B": [("placed", 0), ("packed", 5), ("paid", 5)]})
    found = discover(session, "shop", "order.id")
    assert [v.activities for v in found.top_variants] == [
        ["placed", "packed", "paid"],
        ["placed", "paid", "packed", "shipped"],
    ]
    assert {(e.source, e.target): e.count for e in found.edges} == {
        ("placed", "paid"): 1,
        ("paid", "packed"): 1,
        ("packed", "shipped"): 1,
        ("placed", "packed"): 1,
        ("packed", "paid"): 1,
    }
    assert found.end_activities == {"shipped": 1, "paid": 1}
    assert found.mean_case_duration_s == 7 * 60
    assert found.median_case_duration_s == 7 * 60


def test_events_out_of_time_order_are_ordered_by_timestamp(session: Session) -> None:
    store_cases(session, {"A": [("shipped", 30), ("placed", 0), ("paid", 10)]})
    found = discover(session, "shop", "order.id")
    assert found.top_variants[0].activities == ["placed", "paid", "shipped"]
    assert found.start_activities == {"placed": 1}


def test_events_without_the_correlation_attribute_are_left_out(session: Session) -> None:
    store_cases(session, {"A": ["placed", "paid"]})
    store_events(
        session,
        [
            NewEvent("shop", "x1", "noise", T0, {"other": 1}),
            NewEvent("shop", "x2", "paid", T0, {"order": {"id": 7}}),  # numbers are ids too
            NewEvent("other", "x3", "placed", T0, {"order": {"id": "A"}}),  # other provider
        ],
    )
    session.commit()
    found = discover(session, "shop", "order.id")
    assert (found.cases, found.events, found.activities) == (2, 3, 2)
    assert found.start_activities == {"placed": 1, "paid": 1}


def test_time_window_keeps_events_from_start_until_before_end(session: Session) -> None:
    store_cases(session, {"A": ["placed", "paid", "packed"], "B": ["placed"]})
    found = discover(
        session, "shop", "order.id", start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=2)
    )
    assert (found.cases, found.events) == (1, 1)
    assert found.top_variants[0].activities == ["paid"]


def test_no_events_gives_empty_figures(session: Session) -> None:
    found = discover(session, "nobody", "order.id")
    assert (found.cases, found.events, found.variants, found.edges) == (0, 0, 0, [])
    assert found.mean_case_duration_s is None
    with pytest.raises(FlowscopeError, match="nothing to suggest"):
        suggest_flow(found, "x", "X", "nobody", "order.id")


@pytest.mark.parametrize("field", ["", "order..id", ".id", "x" * 300])
def test_malformed_correlation_paths_are_refused(session: Session, field: str) -> None:
    with pytest.raises(FlowscopeError, match="correlation"):
        discover(session, "shop", field)


def test_correlation_path_is_a_bound_parameter(session: Session) -> None:
    store_cases(session, {"A": ["placed"]}, field="it's")
    hostile = "order}'; drop table events; --.id"
    assert discover(session, "shop", hostile).cases == 0
    assert discover(session, "shop", "it's.id").cases == 1
    assert session.scalar(text("select count(*) from events")) == 1


def test_suggestion_orders_steps_by_typical_position_and_keeps_frequent_edges(
    session: Session,
) -> None:
    store_cases(
        session,
        {f"c{i}": ["placed", "paid", "shipped"] for i in range(8)}
        | {"r1": ["placed", "shipped"], "r2": ["placed", "cancelled"]},
    )
    found = discover(session, "shop", "order.id")
    draft = suggest_flow(found, "orders", "Orders", "shop", "order.id", min_edge_share=0.2)
    assert [s.key for s in draft.steps] == ["placed", "paid", "shipped", "cancelled"]
    assert draft.edges is not None
    edges = [(e.source, e.target) for e in draft.edges]
    # placed→shipped is rare and not needed; placed→cancelled is rare but the only way in
    assert edges == [("paid", "shipped"), ("placed", "paid"), ("placed", "cancelled")]
    assert draft.providers == ["shop"]
    assert draft.correlation == "order.id"


def test_suggestion_makes_a_part_only_entered_at_its_start_reachable(session: Session) -> None:
    store_cases(
        session,
        {f"a{i}": ["a", "b"] for i in range(10)} | {"c": ["c", "d", "c"]},
    )
    found = discover(session, "shop", "order.id")
    draft = suggest_flow(found, "mixed", "Mixed", "shop", "order.id", min_edge_share=0.5)
    assert draft.edges is not None
    assert {(e.source, e.target) for e in draft.edges} == {("a", "b"), ("c", "d")}


def test_suggested_timeouts_follow_the_waits_between_events(session: Session) -> None:
    # waits between events: ten of 5 min, one of 100 min, one of 50 h
    store_cases(session, {f"c{i}": [("a", 0), ("b", 5)] for i in range(10)})
    store_cases(session, {"slow": [("a", 0), ("b", 100)], "slower": [("a", 0), ("b", 3000)]})
    found = discover(session, "shop", "order.id")
    assert found.gap_p90_s == pytest.approx(300 + 0.9 * 5700)  # 90.5 min
    assert found.gap_p99_s == pytest.approx(6000 + 0.89 * 174_000)  # 44.7 h
    draft = suggest_flow(found, "waits", "Waits", "shop", "order.id")
    assert (draft.timeouts.stall, draft.timeouts.drop) == (timedelta(hours=2), timedelta(hours=45))


def test_suggestion_with_a_bad_slug_names_the_field(session: Session) -> None:
    store_cases(session, {"A": ["placed"]})
    found = discover(session, "shop", "order.id")
    with pytest.raises(FlowscopeError, match="slug"):
        suggest_flow(found, "Not A Slug", "X", "shop", "order.id")


# --- property: SQL discovery equals a plain Python computation -------------------------------

_logs = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=3),
    st.lists(st.tuples(st.sampled_from("PQRST"), st.integers(0, 4)), min_size=1, max_size=6),
    min_size=1,
    max_size=8,
)


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * share
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def reference(log: dict[str, list[tuple[str, int]]], top: int) -> dict[str, object]:
    variants: Counter[tuple[str, ...]] = Counter()
    edges: Counter[tuple[str, str]] = Counter()
    durations = []
    gaps: list[float] = []
    for events in log.values():
        in_order = sorted(events, key=lambda e: e[1])  # stable: ties keep their order
        ordered = [t for t, _ in in_order]
        variants[tuple(ordered)] += 1
        edges.update(zip(ordered, ordered[1:], strict=False))
        minutes = [m for _, m in in_order]
        durations.append((max(minutes) - min(minutes)) * 60)
        gaps += [(b - a) * 60.0 for a, b in zip(minutes, minutes[1:], strict=False)]
    ranked = sorted(variants.items(), key=lambda v: (-v[1], v[0]))[:top]
    return {
        "cases": len(log),
        "events": sum(len(e) for e in log.values()),
        "variants": len(variants),
        "top": [(list(v), n) for v, n in ranked],
        "edges": dict(edges),
        "starts": dict(Counter(v[0] for v in variants.elements())),
        "ends": dict(Counter(v[-1] for v in variants.elements())),
        "mean": statistics.mean(durations),
        "median": statistics.median(durations),
        "gaps": (percentile(gaps, 0.9), percentile(gaps, 0.99)),
    }


def ours(found: Discovery) -> dict[str, object]:
    assert found.mean_case_duration_s is not None
    assert found.median_case_duration_s is not None
    return {
        "cases": found.cases,
        "events": found.events,
        "variants": found.variants,
        "top": [(v.activities, v.count) for v in found.top_variants],
        "edges": {(e.source, e.target): e.count for e in found.edges},
        "starts": found.start_activities,
        "ends": found.end_activities,
        "mean": pytest.approx(found.mean_case_duration_s),
        "median": pytest.approx(found.median_case_duration_s),
        "gaps": pytest.approx((found.gap_p90_s, found.gap_p99_s)),
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(log=_logs)
def test_discovery_equals_a_python_reference_and_suggestion_is_valid(
    clean_db: Database, log: dict[str, list[tuple[str, int]]]
) -> None:
    provider = f"p-{uuid.uuid4().hex}"  # each example has its own provider: no clean-up needed
    with clean_db.sessions.begin() as session:
        store_events(
            session,
            [
                NewEvent(provider, f"{case}-{n}", etype, T0 + timedelta(minutes=m), {"k": case})
                for case, events in log.items()
                for n, (etype, m) in enumerate(events)
            ],
        )
    with clean_db.sessions() as session:
        found = discover(session, provider, "k", top_variants=3)
    assert ours(found) == reference(log, 3)
    for share in (0.0, 0.3, 1.0):
        draft = suggest_flow(found, "drafted", "Drafted", provider, "k", min_edge_share=share)
        assert sorted(s.events[0].type for s in draft.steps) == sorted(
            {t for events in log.values() for t, _ in events}
        )
