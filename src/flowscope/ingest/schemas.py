"""Plain data shapes of the ingest path (kept as slotted dataclasses: it is the hot path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel


@dataclass(slots=True)
class NewEvent:
    provider: str
    event_id: str
    type: str
    timestamp: datetime
    attributes: dict[str, Any]


@dataclass(slots=True)
class Problem:
    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass(slots=True)
class Parsed:
    """What a request body held: valid events (with their position) and problems."""

    events: list[NewEvent] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    total: int = 0


class IngestResult(BaseModel):
    accepted: int
    duplicates: int


class ProblemOut(BaseModel):
    index: int
    field: str
    message: str


class IngestRejected(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    errors: list[ProblemOut]
