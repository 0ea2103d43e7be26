"""The evaluator against the database: alerts open and resolve, one per rule and group,
hooks run in the same transaction, silences mute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowscope.alerts import service
from flowscope.alerts.evaluator import TickReport, evaluate_due
from flowscope.alerts.models import Alert, AlertRule
from flowscope.alerts.schemas import RuleIn, SilenceIn
from flowscope.alerts.transitions import AlertHook, AlertTransition
from flowscope.db import Database, transaction
from tests.alerts.support import rule, shop_with_flows
from tests.flows.correlation_support import T0

MIN = timedelta(minutes=1)


@pytest.fixture
def shop(clean_db: Database) -> Database:
    shop_with_flows(clean_db)
    return clean_db


def _create(db: Database, spec: RuleIn) -> int:
    with transaction(db.sessions) as session:
        return service.create_rule(session, spec, "test", 1, now=T0).id


def _tick(db: Database, minutes: float, hooks: tuple[AlertHook, ...] = ()) -> TickReport:
    with transaction(db.sessions) as session:
        return evaluate_due(session, hooks, T0 + MIN * minutes)


def _alerts(db: Database) -> list[Alert]:
    with db.sessions() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_opens_when_the_window_violates_and_resolves_after_dealerting(shop: Database) -> None:
    seen: list[AlertTransition] = []
    hooks: tuple[AlertHook, ...] = (lambda _s, t: seen.append(t),)
    rule_id = _create(shop, rule())
    # 12:10: only 12:00 is over (no exception); 12:20: the 12:10 cohort has c3's exception
    assert _tick(shop, 10, hooks).opened == 0
    opened = _tick(shop, 20, hooks)
    assert (opened.opened, opened.resolved) == (1, 0)
    [alert] = _alerts(shop)
    assert alert.state == "open"
    assert alert.threshold == "above 0"
    assert alert.samples == [{"at": (T0 + 10 * MIN).isoformat(), "value": 1.0, "violating": True}]
    # not due again before its next interval: nothing happens
    assert _tick(shop, 25, hooks).evaluated == 0
    # 12:30: one normal sample of the two needed; 12:40: two, so it resolves
    assert _tick(shop, 30, hooks).resolved == 0
    assert _tick(shop, 40, hooks).resolved == 1
    [alert] = _alerts(shop)
    assert alert.state == "resolved"
    assert alert.ended_at == T0 + 40 * MIN
    assert [(t.change, t.rule_id, t.alert_id) for t in seen] == [
        ("opened", rule_id, alert.id),
        ("resolved", rule_id, alert.id),
    ]
    assert seen[0].flow == "orders"
    assert seen[0].kpi == "exceptions"
    assert seen[0].flow_url is not None
    assert seen[0].flow_url.startswith("/flows/orders?")
    assert seen[0].url == f"/alerts/{alert.id}"
    # the same samples again never reopen it
    assert _tick(shop, 50, hooks).opened == 0


def test_one_open_alert_per_rule_however_often_it_violates(shop: Database) -> None:
    _create(shop, rule(analyzer={"type": "static", "condition": "above", "threshold": -1}))
    for minutes in (20, 30, 40, 50):
        _tick(shop, minutes)
    assert [a.state for a in _alerts(shop)] == ["open"]


def test_the_database_refuses_a_second_open_alert_for_a_group(shop: Database) -> None:
    rule_id = _create(shop, rule())

    def open_alert() -> Alert:
        return Alert(
            rule_id=rule_id,
            group_key="",
            group={},
            severity="warning",
            threshold="",
            samples=[],
            started_at=T0,
            sample_at=T0,
        )

    with shop.sessions() as session:
        session.add(open_alert())
        session.flush()
        session.add(open_alert())
        with pytest.raises(IntegrityError):
            session.flush()


def test_a_failing_hook_leaves_no_alert_behind(shop: Database) -> None:
    def broken(_session: Session, _t: AlertTransition) -> None:
        raise RuntimeError("outbox unavailable")

    rule_id = _create(shop, rule())
    report = _tick(shop, 20, (broken,))
    assert (report.opened, report.errors) == (0, 1)
    assert _alerts(shop) == []
    with shop.sessions() as session:
        assert "outbox unavailable" in (session.get_one(AlertRule, rule_id).last_error or "")


def test_a_silenced_rule_is_evaluated_but_opens_nothing(shop: Database) -> None:
    rule_id = _create(shop, rule())
    with transaction(shop.sessions) as session:
        service.add_silence(session, SilenceIn(rule=rule_id, ends_at=T0 + 25 * MIN), "test", now=T0)
    report = _tick(shop, 20)
    assert (report.evaluated, report.opened, report.muted) == (1, 0, 1)
    assert _alerts(shop) == []
    # 12:30: the silence is over, but the newest sample is normal: nothing to open
    assert _tick(shop, 30).opened == 0


def test_silencing_everything_mutes_every_rule(shop: Database) -> None:
    _create(shop, rule())
    _create(shop, rule(name="Started", source={"flow": "orders", "kpi": "started"}))
    with transaction(shop.sessions) as session:
        service.add_silence(session, SilenceIn(ends_at=T0 + 60 * MIN), "test", now=T0)
    report = _tick(shop, 20)
    assert (report.evaluated, report.muted, report.opened) == (2, 2, 0)


def test_rules_on_one_flow_and_interval_share_one_series_query(shop: Database) -> None:
    for kpi in ("started", "exceptions", "conversion", "dropped"):
        _create(shop, rule(name=kpi, source={"flow": "orders", "kpi": kpi}))
    _create(shop, rule(name="paid", source={"flow": "orders", "kpi": "reached", "step": "paid"}))
    _create(shop, rule(name="other interval", interval_seconds=300))
    report = _tick(shop, 60)
    assert report.evaluated == 6
    assert report.series_queries == 2


def test_a_query_rule_opens_one_alert_per_by_group(shop: Database) -> None:
    query = (
        'fetch bizevents | filter event.provider == "shop" '
        "| makeTimeseries n = count(), by: {event.type}, interval: 10m"
    )
    _create(
        shop,
        rule(
            source={"query": query},
            analyzer={"type": "static", "condition": "above", "threshold": 1},
        ),
    )
    # the 12:10 bin: 2 orders placed (c3, c4), 1 payment captured, 1 declined
    report = _tick(shop, 20)
    assert report.errors == 0
    [alert] = _alerts(shop)
    assert alert.group == {"event.type": "order.placed"}


def test_a_single_number_query_keeps_its_samples(shop: Database) -> None:
    rule_id = _create(
        shop,
        rule(
            source={
                "query": 'fetch bizevents | filter event.type == "payment.declined" '
                "| summarize count()"
            },
            samples={"violating": 2, "of": 2, "dealerting": 2},
        ),
    )
    assert _tick(shop, 20).opened == 0  # one sample of the two needed
    assert _tick(shop, 30).opened == 1
    with shop.sessions() as session:
        row = session.get_one(AlertRule, rule_id)
        assert [v for _, v in row.recent] == [1.0, 1.0]


def test_a_broken_rule_records_its_error_and_the_others_run(shop: Database) -> None:
    broken = _create(shop, rule(name="missing flow"))
    _create(shop, rule(name="fine"))
    with transaction(shop.sessions) as session:
        row = session.get_one(AlertRule, broken)
        row.spec = {**row.spec, "source": {"flow": "gone", "kpi": "exceptions"}}
    report = _tick(shop, 20)
    assert (report.evaluated, report.errors, report.opened) == (2, 1, 1)
    with shop.sessions() as session:
        assert "no longer exists" in (session.get_one(AlertRule, broken).last_error or "")
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_a_stored_rule_that_no_longer_parses_is_reported_not_fatal(shop: Database) -> None:
    stale = _create(shop, rule(name="stale"))
    _create(shop, rule(name="fine"))
    with transaction(shop.sessions) as session:
        row = session.get_one(AlertRule, stale)
        row.spec = {**row.spec, "analyzer": {"type": "retired-kind"}}
    report = _tick(shop, 20)
    assert (report.evaluated, report.errors, report.opened) == (1, 1, 1)
    with shop.sessions() as session:
        assert "not valid any more" in (session.get_one(AlertRule, stale).last_error or "")
