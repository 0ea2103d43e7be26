"""The audit log as the JSON API shows it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Actor(BaseModel):
    kind: str = Field(description="`user`, `token` or `system` (a CLI command)")
    name: str
    id: int | None = None


class AuditEntryOut(BaseModel):
    id: int
    at: str = Field(description="ISO 8601 time of the change")
    actor: Actor
    ip: str | None = None
    action: str
    target: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_before: int | None = Field(
        default=None, description="pass as `before` for the next, older page; null at the end"
    )
