"""What every action gets (`Context`) and gives back (`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from flowscope.settings import Settings

EXCERPT = 2000


@dataclass(frozen=True)
class Context:
    session: Session  # the dispatcher's transaction, which also holds the outbox row
    settings: Settings
    data: dict[str, Any]  # the templates' variables
    idempotency_key: str  # the same for every attempt of this action of this run
    signing_key: str


@dataclass
class Outcome:
    ok: bool
    request: dict[str, Any] = field(default_factory=dict)  # rendered input, secrets masked
    status: int | None = None
    excerpt: str | None = None
    result: Any = None  # `previous.result` of the next action
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None  # seconds, from a Retry-After header


def failed(request: dict[str, Any], error: str, *, retryable: bool = False) -> Outcome:
    return Outcome(ok=False, request=request, error=error[:2000], retryable=retryable)
