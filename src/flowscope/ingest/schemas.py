"""Plain data shapes of the ingest path (kept as slotted dataclasses: it is the hot path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer, WithJsonSchema


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


# Times as `datetime.isoformat()` writes them (`+00:00`, not pydantic's `Z`): the answers
# stay byte-for-byte what they were before the route declared its model.
IsoTime = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class StoredEvent(BaseModel):
    seq: int
    provider: str
    type: str
    event_id: str
    timestamp: IsoTime
    received_at: IsoTime
    attributes: dict[str, Any]


class LatestEvents(BaseModel):
    events: list[StoredEvent]
