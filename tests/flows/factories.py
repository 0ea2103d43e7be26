"""Small typed helpers for the flow tests: events and definitions."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The real event logs: $FLOWSCOPE_SHARED_DIR/data, else <repo root>/../shared/data.

    Missing data fails the test (never skips it): the oracle tests are the proof of discovery.
    """
    base = os.environ.get("FLOWSCOPE_SHARED_DIR")
    root = Path(base) if base else REPO_ROOT.parent / "shared"
    data = root / "data"
    needed = ["helpdesk.xes.gz", "helpdesk.expected.json", "receipt.csv", "receipt.expected.json"]
    missing = [name for name in needed if not (data / name).is_file()]
    if missing:
        pytest.fail(
            f"the shared test logs are missing from {data}: {', '.join(missing)}. Set "
            "FLOWSCOPE_SHARED_DIR to the folder that holds data/, or put shared/ beside the "
            "repository."
        )
    return data


def store_cases(
    session: Session,
    cases: Mapping[str, Sequence[str | tuple[str, int]]],
    *,
    provider: str = "shop",
    field: str = "order",
) -> None:
    """Events of each case, one minute apart unless given as (type, minute offset)."""
    events = []
    for case_id, steps in cases.items():
        for n, step in enumerate(steps):
            etype, minute = step if isinstance(step, tuple) else (step, n)
            events.append(
                NewEvent(
                    provider,
                    f"{case_id}-{n}",
                    etype,
                    T0 + timedelta(minutes=minute),
                    {field: {"id": case_id}},
                )
            )
    store_events(session, events)
    session.commit()


def definition(**overrides: Any) -> FlowDefinition:
    data: dict[str, Any] = {
        "slug": "online-orders",
        "name": "Online orders",
        "providers": ["shop.checkout"],
        "correlation": "order.id",
        "steps": [
            {"key": "placed", "name": "Order placed", "events": [{"type": "order.placed"}]},
            {"key": "paid", "name": "Paid", "events": [{"type": "payment.captured"}]},
        ],
    }
    data.update(overrides)
    return FlowDefinition.model_validate(data)
