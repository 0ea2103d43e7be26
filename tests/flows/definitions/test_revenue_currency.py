"""A currency per flow definition (issue 13, point 7), with the old revenue shape unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from flowscope.flows.definitions.yaml_io import (
    InvalidDefinition,
    from_yaml,
    parse_definition,
    to_yaml,
)
from tests.flows.views_support import SHOP

OLD_YAML = """\
slug: orders
name: Orders
providers: [shop]
correlation: order.id
steps:
- key: placed
  name: Placed
  events:
  - {type: order.placed}
revenue:
  field: order.total
  step: placed
timeouts: {stall: 1h, drop: 1d}
"""


def test_an_old_revenue_without_currency_loads_and_round_trips_byte_for_byte() -> None:
    # OLD_YAML is what export wrote before currencies existed.
    definition = from_yaml(OLD_YAML)
    assert definition.revenue is not None
    assert definition.revenue.currency is None
    assert to_yaml(definition) == OLD_YAML


def test_a_currency_is_kept_and_written_back() -> None:
    text = OLD_YAML.replace("step: placed\n", "step: placed\n  currency: EUR\n")
    definition = from_yaml(text)
    assert definition.revenue is not None
    assert definition.revenue.currency == "EUR"
    assert to_yaml(definition) == text


def _with_currency(value: Any) -> dict[str, Any]:
    return {**SHOP, "revenue": {**SHOP["revenue"], "currency": value}}


def test_a_lowercase_code_means_the_same_currency() -> None:
    definition = parse_definition(_with_currency(" usd "))
    assert definition.revenue is not None
    assert definition.revenue.currency == "USD"


@pytest.mark.parametrize("bad", ["XYZ", "US", "dollars", 5])
def test_an_unknown_currency_is_refused_naming_the_field(bad: Any) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(_with_currency(bad))
    assert caught.value.message.startswith("revenue.currency:")
    assert caught.value.status_code == 422
