"""Small generator configurations for tests."""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy.orm import Session

from flowscope.generator import service
from flowscope.generator.models import Generator
from flowscope.generator.schemas import GeneratorConfig


def config_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Test orders",
        "provider": "test.orders.v001",
        "correlation": "order.id",
        "id_prefix": "T",
        "seed": 7,
        "volume": 20,
        "steps": [
            {"name": "Placed", "type": "order.placed", "drop_percent": 10, "max_hours": 0.5},
            {"name": "Paid", "type": "order.paid", "min_hours": 0.1, "max_hours": 1,
             "loop": {"max": 2, "percent": 30}, "service": "pay", "host": "pay-01"},
            {"name": "Wrapped", "type": "order.wrapped", "optional_percent": 25,
             "min_hours": 0.5, "max_hours": 1},
            {"name": "Shipped", "type": "order.shipped", "drop_percent": 5, "min_hours": 2,
             "max_hours": 6},
            {"name": "Delivered", "type": "order.delivered"},
        ],
        "exceptions": [
            {"name": "declined", "step": "order.paid", "percent": 8},
            {"name": "failed", "step": "order.delivered", "percent": 12},
        ],
        "locations": {"attribute": "store.city", "steps": ["order.placed"],
                      "values": {"Berlin": 3, "Hamburg": 1}},
        "segment": {"attribute": "customer.tier", "steps": ["order.placed", "order.delivered"],
                    "values": {"gold": 1, "silver": 3}},
        "revenue": {"attribute": "order.value", "steps": ["order.placed"], "min": 10, "max": 100},
    }  # fmt: skip
    data.update(overrides)
    return data


def make_config(**overrides: Any) -> GeneratorConfig:
    return GeneratorConfig.model_validate(config_data(**overrides))


def make_generator(session: Session, **overrides: Any) -> Generator:
    source = yaml.safe_dump(config_data(**overrides), sort_keys=False)
    generator = service.create_generator(session, source, "test")
    session.commit()
    return generator
