"""Analysis services: KPIs against the previous timeframe, per step and per edge figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.flows.analysis.context import FlowContext, load_flow_context
from flowscope.flows.analysis.drilldown import variants
from flowscope.flows.analysis.kpis import flow_analysis, settle_age
from flowscope.flows.analysis.schemas import FlowAnalysis
from flowscope.flows.analysis.sketch import ALPHA  # percentiles come from a sketch
from flowscope.flows.definitions.service import get_flow
from tests.flows.correlation_support import T0, drain, event, ingest, make_flow
from tests.flows.factories import make_shop_flow

H = 60  # minutes


@pytest.fixture
def shop(clean_db: Database) -> Database:
    make_shop_flow(
        clean_db,
        timeouts={"stall": "1h", "drop": "24h"},
        paid={"timeouts": {"stall": "1h", "drop": "48h"}},
    )

    def placed(cid: str, minutes: float, total: float) -> object:
        return event(cid, "order.placed", minutes, attrs={"order": {"total": total}})

    ingest(
        clean_db,
        [
            # the timeframe [T0, T0 + 6h)
            placed("c1", 0, 100),
            event("c1", "payment.captured", 10),
            event("c1", "parcel.shipped", 70),
            placed("c2", 5, 50),
            event("c2", "payment.captured", 20),
            event("c2", "parcel.shipped", 35),
            placed("c3", 30, 20),
            event("c3", "payment.declined", 40),
            placed("c4", 5 * H, 30),
            placed("c5", 1 * H, 10),
            event("c5", "payment.captured", 29 * H + 50),
            # the timeframe before it
            placed("p1", -120, 100),
            event("p1", "payment.captured", -100),
            event("p1", "parcel.shipped", -60),
            placed("p2", -30, 40),
            # after the timeframe
            placed("o1", 7 * H, 1000),
        ],
    )
    drain(clean_db)
    return clean_db


def context(session: Session, slug: str = "orders") -> FlowContext:
    return load_flow_context(session, get_flow(session, slug))


def analyse(db: Database) -> FlowAnalysis:
    with db.sessions() as session:
        return flow_analysis(
            session,
            context(session),
            start=T0,
            end=T0 + timedelta(hours=6),
            now=T0 + timedelta(hours=30),
        )


def test_kpis_for_the_timeframe_and_the_one_before(shop: Database) -> None:
    result = analyse(shop)
    assert result.kpis is not None
    current, previous, change = result.kpis.current, result.kpis.previous, result.kpis.change_pct
    assert current.started == 5
    assert current.completed == 2
    assert current.conversion == pytest.approx(0.4)
    assert current.revenue == pytest.approx(210)
    assert current.exceptions == 1
    assert current.exception_rate == pytest.approx(0.2)
    assert current.avg_duration_s == pytest.approx(3000)
    assert current.median_duration_s == pytest.approx(3000, rel=ALPHA)
    assert current.p90_duration_s == pytest.approx(3960, rel=ALPHA)
    assert (previous.started, previous.completed, previous.revenue) == (2, 1, 140)
    assert change.revenue == pytest.approx(50)
    assert change.conversion == pytest.approx(-20)
    assert change.exceptions is None  # nothing to compare with
    assert result.states is not None
    assert result.states.model_dump() == {
        "completed": 2,
        "in_progress": 1,
        "stalled": 1,
        "dropped": 1,
    }
    assert (result.previous_window.from_, result.previous_window.to) == (
        T0 - timedelta(hours=6),
        T0,
    )


def test_per_step_figures(shop: Database) -> None:
    steps = {s.key: s for s in analyse(shop).steps}
    figures = ("reached", "with_exception", "in_progress", "stalled", "dropped", "completed")
    assert {k: tuple(getattr(s, f) for f in figures) for k, s in steps.items()} == {
        "placed": (5, 0, 0, 0, 1, 2),
        "paid": (4, 1, 1, 1, 0, 2),
        "shipped": (2, 0, 0, 0, 0, 2),
    }


def test_per_edge_flows_and_delays(shop: Database) -> None:
    edges = {(e.source, e.target): e for e in analyse(shop).edges}
    placed_paid = edges[("placed", "paid")]
    assert placed_paid.flows == 4
    assert placed_paid.median_delay_s == pytest.approx(750, rel=ALPHA)
    assert placed_paid.p90_delay_s == pytest.approx(72930, rel=ALPHA)
    assert placed_paid.declared is True
    assert edges[("paid", "shipped")].flows == 2
    assert edges[("paid", "shipped")].median_delay_s == pytest.approx(2250, rel=ALPHA)
    assert set(edges) == {("placed", "paid"), ("paid", "shipped")}


def test_default_timeframe_is_the_last_24_hours(shop: Database) -> None:
    with shop.sessions() as session:
        result = flow_analysis(session, context(session), now=T0 + timedelta(hours=7, minutes=1))
    assert (result.window.from_, result.window.to) == (
        T0 - timedelta(hours=16, minutes=59),
        T0 + timedelta(hours=7, minutes=1),
    )
    assert result.kpis is not None
    assert result.kpis.current.started == 8


def test_variants_with_share_and_conformance(shop: Database) -> None:
    with shop.sessions() as session:
        result = variants(session, context(session))
    assert result.total == 8
    top = result.variants[0]
    assert top.steps == ["placed"]
    assert top.count == 3
    assert top.share == pytest.approx(3 / 8)
    full = next(v for v in result.variants if v.steps == ["placed", "paid", "shipped"])
    assert full.count == 3
    assert full.avg_duration_s == pytest.approx((4200 + 1800 + 3600) / 3)
    assert result.conformance is not None
    assert result.conformance.conformant == 8


def test_analysis_before_the_first_build_shows_progress_only(clean_db: Database) -> None:
    make_flow(clean_db)
    with clean_db.sessions() as session:
        result = flow_analysis(session, context(session))
    assert result.kpis is None
    assert result.steps == []


def test_conversion_counts_only_flows_old_enough_to_have_finished(shop: Database) -> None:
    with shop.sessions() as session:
        flow = context(session)
        # The paid step's 48 h drop timeout is the longest: a flow counts once 48 h old.
        assert settle_age(flow.definition) == timedelta(hours=48)
        young = flow_analysis(
            session, flow, start=T0, end=T0 + timedelta(hours=6), now=T0 + timedelta(hours=30)
        )
        later = flow_analysis(
            session, flow, start=T0, end=T0 + timedelta(hours=6), now=T0 + timedelta(hours=51)
        )
    assert young.kpis is not None
    assert young.kpis.settled is not None
    assert young.kpis.settled.current.flows == 0  # none is 48 h old yet: nothing to judge
    assert young.kpis.settled.current.conversion is None
    assert young.kpis.current.conversion == pytest.approx(0.4)  # the raw figure stays as it was
    assert later.kpis is not None
    assert later.kpis.settled is not None
    fair = later.kpis.settled
    assert fair.started_before == T0 + timedelta(hours=3)
    # c1, c2, c3 and c5 started before T0 + 3 h; c4 (T0 + 5 h) is too young.
    assert (fair.current.flows, fair.current.completed) == (4, 2)
    assert fair.current.conversion == pytest.approx(0.5)
    assert (fair.previous.flows, fair.previous.completed) == (2, 1)
    assert fair.change_pct.conversion == pytest.approx(0)
