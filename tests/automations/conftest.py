from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from flowscope.auth.keys import secret_key
from flowscope.automations import service
from flowscope.automations.models import Automation
from flowscope.db import Database
from flowscope.settings import Settings
from tests.automations.receivers import Mailbox, Recorder, http_receiver, smtp_receiver


@pytest.fixture
def receiver() -> Iterator[Recorder]:
    with http_receiver() as recorder:
        yield recorder


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_receiver() as found:
        yield found


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """Retries within a test's patience."""
    return settings.model_copy(
        update={
            "automation_backoff_seconds": 0.05,
            "automation_backoff_max_seconds": 0.5,
            "automation_timeout_seconds": 2.0,
        }
    )


def make_automation(db: Database, settings: Settings, data: dict[str, Any]) -> tuple[int, str]:
    """Create an automation from API JSON; its id and signing secret."""
    with db.sessions.begin() as session:
        automation, key = service.create_automation(
            session, secret_key(settings, session), service.parse(data), "test"
        )
        return automation.id, key


def get(session: Session, automation_id: int) -> Automation:
    return session.get_one(Automation, automation_id)
