"""Configuration validation, templates, and the flow definition a generator creates."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.generator import service
from flowscope.generator.flowdef import flow_definition
from flowscope.generator.service import InvalidConfig
from tests.generator.factories import config_data, make_config


def problems_for(**overrides: Any) -> str:
    with pytest.raises(InvalidConfig) as caught:
        service.parse_config(yaml.safe_dump(config_data(**overrides)))
    return "\n".join(caught.value.problems)


def test_every_template_is_valid_and_makes_a_valid_flow() -> None:
    templates = {t.name: t for t in service.list_templates()}
    assert {"retail", "loan", "power-outage", "insurance-claim"} <= templates.keys()
    for template in templates.values():
        config = service.parse_config(template.source)
        definition = flow_definition(config)
        FlowDefinition.model_validate(definition.model_dump(by_alias=True))
        assert len(config.steps) >= 5
        assert config.exceptions


def test_retail_template_follows_the_order_journey() -> None:
    config = service.parse_config(service.get_template("retail").source)
    types = [s.type for s in config.steps if s.optional_percent is None]
    assert types == [
        "order.placed",
        "payment.captured",
        "order.packed",
        "parcel.shipped",
        "parcel.delivered",
    ]
    assert config.segment is not None
    assert "gold" in config.segment.values
    assert config.revenue is not None
    assert config.revenue.attribute == "order.value"


def test_flow_definition_marks_optional_step_exceptions_properties_and_revenue() -> None:
    definition = flow_definition(make_config())
    steps = {s.key: s for s in definition.steps}
    assert steps["order.wrapped"].optional
    assert [e.type for e in steps["order.paid"].exceptions] == ["order.paid.declined"]
    assert [e.type for e in steps["order.delivered"].exceptions] == ["order.delivered.failed"]
    assert {p.path for p in steps["order.placed"].properties} == {
        "store.city",
        "customer.tier",
        "order.value",
    }
    assert definition.revenue is not None
    assert definition.revenue.field == "order.value"
    edges = set(definition.effective_edges())
    assert ("order.paid", "order.paid") in edges  # the payment step loops
    assert {("order.paid", "order.wrapped"), ("order.paid", "order.shipped")} <= edges
    assert definition.providers == ["test.orders.v001"]
    assert definition.correlation == "order.id"
    assert definition.timeouts.stall is not None
    assert definition.timeouts.stall.total_seconds() >= 6 * 3600


def test_unknown_step_in_an_exception_is_named() -> None:
    text = problems_for(exceptions=[{"name": "lost", "step": "order.teleported", "percent": 1}])
    assert "exception 'lost': unknown step 'order.teleported'" in text


def test_last_step_cannot_be_optional_or_drop() -> None:
    steps = config_data()["steps"]
    steps[-1]["drop_percent"] = 5
    assert "last step 'Delivered'" in problems_for(steps=steps)


def test_drop_and_exceptions_beyond_one_hundred_percent_are_refused() -> None:
    exceptions = [{"name": "declined", "step": "order.placed", "percent": 95}]
    assert "exceed 100" in problems_for(exceptions=exceptions)


def test_attribute_paths_that_overlap_are_refused() -> None:
    revenue = {"attribute": "order.id.value", "steps": ["order.placed"], "min": 1, "max": 2}
    assert "would be overwritten" in problems_for(revenue=revenue)


def test_reserved_attribute_names_are_refused() -> None:
    segment = {"attribute": "event.type", "steps": ["order.placed"], "values": {"a": 1}}
    assert "reserved" in problems_for(segment=segment)


def test_time_of_day_needs_24_weights_and_backfill_at_most_30_days() -> None:
    assert "time_of_day" in problems_for(time_of_day=[1.0] * 23)
    assert "backfill is at most 30d" in problems_for(backfill="31d")


def test_schedule_is_an_interval_or_a_valid_cron() -> None:
    assert (
        service.parse_config(
            yaml.safe_dump(config_data(schedule={"cron": "*/10 * * * *"}))
        ).schedule.describe()
        == "cron */10 * * * * (UTC)"
    )
    assert "cron" in problems_for(schedule={"cron": "every monday"})
    assert "either" in problems_for(schedule={})


def test_yaml_syntax_errors_name_the_line() -> None:
    with pytest.raises(InvalidConfig) as caught:
        service.parse_config("name: x\nsteps: [a, b\n")
    assert caught.value.problems[0].startswith("YAML line 3")


def test_validation_errors_name_the_yaml_line() -> None:
    source = service.get_template("retail").source
    broken = source.replace("percent: 4}", "percent: 140}")
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "percent: 140}" in text)
    with pytest.raises(InvalidConfig) as caught:
        service.parse_config(broken)
    assert caught.value.problems == [
        f"line {line}: exceptions.0.percent: Input should be less than or equal to 100"
    ]
