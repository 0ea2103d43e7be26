"""The simulation, in memory: determinism, window independence, configured rates, shaping."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from flowscope.generator.engine import GeneratedEvent, flow_starts, flows_in_window
from tests.generator.factories import make_config

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def events_of(flows: list[list[GeneratedEvent]]) -> list[tuple[str, str, datetime, str]]:
    return [(e.event_id, e.type, e.timestamp, repr(e.attributes)) for f in flows for e in f]


def test_same_seed_gives_the_same_events() -> None:
    start = NOW - timedelta(hours=6)
    first = list(flows_in_window(make_config(), start, NOW))
    second = list(flows_in_window(make_config(), start, NOW))
    assert first
    assert events_of(first) == events_of(second)


def test_another_seed_gives_other_flows() -> None:
    start = NOW - timedelta(hours=6)
    one = {e[0] for e in events_of(list(flows_in_window(make_config(seed=1), start, NOW)))}
    two = {e[0] for e in events_of(list(flows_in_window(make_config(seed=2), start, NOW)))}
    assert one
    assert two
    assert not one & two


def test_a_window_split_in_runs_gives_the_same_flows_as_one_window() -> None:
    config = make_config()
    start, middle = NOW - timedelta(hours=5), NOW - timedelta(minutes=137)
    whole = list(flows_in_window(config, start, NOW))
    parts = list(flows_in_window(config, start, middle)) + list(
        flows_in_window(config, middle, NOW)
    )
    assert events_of(whole) == events_of(parts)


def test_flows_start_inside_the_window_and_events_follow_in_time() -> None:
    start = NOW - timedelta(hours=3)
    for flow in flows_in_window(make_config(), start, NOW):
        assert start < flow[0].timestamp <= NOW
        times = [e.timestamp for e in flow]
        assert times == sorted(times)
        assert len(set(times)) == len(times)
        assert len({e.event_id for e in flow}) == len(flow)


def within(observed: int, total: int, percent: float) -> bool:
    """Inside 4.5 standard deviations of a binomial (the run is deterministic anyway)."""
    p = percent / 100
    sigma = math.sqrt(p * (1 - p) / total)
    return abs(observed / total - p) <= 4.5 * sigma


def test_drop_optional_exception_and_loop_rates_over_ten_thousand_flows() -> None:
    config = make_config(volume=2000)
    flows = list(flows_in_window(config, NOW - timedelta(hours=6), NOW))
    assert len(flows) >= 10_000
    reached: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    repeats: Counter[int] = Counter()
    for flow in flows:
        steps = {e.step_key for e in flow}
        reached.update(steps)
        last = flow[-1]
        if last.type != last.step_key:
            failed[last.step_key] += 1
        elif last.step_key != "order.delivered":
            dropped[last.step_key] += 1
        paid = sum(1 for e in flow if e.type == "order.paid")
        if paid:
            repeats[paid] += 1
    assert within(dropped["order.placed"], reached["order.placed"], 10)
    assert within(failed["order.paid"], reached["order.paid"], 8)
    passed_payment = reached["order.paid"] - failed["order.paid"]
    assert within(reached["order.wrapped"], passed_payment, 25)
    assert within(dropped["order.shipped"], reached["order.shipped"], 5)
    assert within(failed["order.delivered"], reached["order.delivered"], 12)
    # Steps without a drop rate lose nobody; loops repeat at most `max` times.
    assert dropped["order.paid"] == dropped["order.wrapped"] == 0
    assert reached["order.shipped"] == passed_payment
    assert max(repeats) == 3
    assert within(sum(repeats.values()) - repeats[1], sum(repeats.values()), 30)


def test_time_of_day_weights_shape_the_volume() -> None:
    weights = [0.0] * 24
    weights[10] = 1.0
    weights[11] = 3.0
    config = make_config(volume=300, time_of_day=weights)
    day = datetime(2026, 11, 22, tzinfo=UTC)
    per_hour = {h: len(flow_starts(config, day + timedelta(hours=h))) for h in range(24)}
    assert sum(per_hour.values()) == per_hour[10] + per_hour[11]
    assert 2.2 < per_hour[11] / per_hour[10] < 4


def test_time_of_day_follows_the_configured_time_zone() -> None:
    weights = [0.0] * 24
    weights[9] = 1.0
    config = make_config(volume=100, time_of_day=weights, timezone="America/New_York")
    day = datetime(2026, 11, 22, tzinfo=UTC)
    busy = [h for h in range(24) if flow_starts(config, day + timedelta(hours=h))]
    assert busy == [14]  # 09:00 in New York in November is 14:00 UTC


def test_attributes_are_nested_and_carried_by_the_configured_steps() -> None:
    flows = list(flows_in_window(make_config(), NOW - timedelta(hours=2), NOW))
    placed = flows[0][0]
    assert placed.type == "order.placed"
    assert placed.attributes["order"]["id"] == placed.flow_id
    assert 10 <= placed.attributes["order"]["value"] <= 100
    assert placed.attributes["store"]["city"] in ("Berlin", "Hamburg")
    assert placed.attributes["customer"]["tier"] in ("gold", "silver")
    paid = next(e for f in flows for e in f if e.type == "order.paid")
    assert paid.attributes["service"] == {"name": "pay"}
    assert paid.attributes["host"] == {"name": "pay-01"}
    assert len(paid.attributes["trace"]["id"]) == 32
    assert "store" not in paid.attributes
    assert "customer" not in paid.attributes


def test_an_exception_ends_the_flow_with_the_step_type_and_exception_name() -> None:
    flows = list(flows_in_window(make_config(volume=200), NOW - timedelta(hours=3), NOW))
    failed = [f for f in flows if f[-1].type == "order.paid.declined"]
    assert failed
    for flow in failed:
        assert [e.type for e in flow] == ["order.placed", "order.paid.declined"]


@pytest.mark.parametrize("volume", [0.4, 3.0])
def test_small_volumes_still_produce_flows_on_average(volume: float) -> None:
    config = make_config(volume=volume)
    start = NOW - timedelta(hours=200)
    count = sum(1 for _ in flows_in_window(config, start, NOW))
    assert 0.7 * volume * 200 < count < 1.3 * volume * 200
