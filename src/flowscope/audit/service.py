"""Recording and reading the audit log. Functions take a session and never commit.

Who acts travels with the unit of work: the request dependency that authenticates a user or
token puts an `Actor` into `session.info` (`act_as`), and the services that change something
call `record(session, ...)`. So a service needs no extra parameter to be audited, and an
entry is committed or rolled back together with the change it describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from flowscope.audit.models import AuditEntry

ACTOR_KEY = "flowscope.audit_actor"
ActorKind = Literal["user", "token", "cli", "system", "anonymous"]
MAX_LIMIT = 500


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    name: str
    id: int | None = None
    ip: str | None = None


def act_as(session: Session, actor: Actor, *, replace: bool = True) -> None:
    """Attribute what this session changes from now on to `actor` (`replace=False`: only if
    nobody is set yet, so a request authenticated by a token stays the token's)."""
    if replace or ACTOR_KEY not in session.info:
        session.info[ACTOR_KEY] = actor


def current_actor(session: Session) -> Actor | None:
    actor = session.info.get(ACTOR_KEY)
    return actor if isinstance(actor, Actor) else None


def record(
    session: Session,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
    *,
    by: str | None = None,
) -> AuditEntry:
    """Add an entry for `action` on `target` ("flow:orders"). Without an actor in the session
    (scheduled jobs, scripts), the entry names `by` (the caller's changed_by) as the system."""
    actor = current_actor(session) or Actor("system", (by or "system")[:128])
    entry = AuditEntry(
        actor_kind=actor.kind,
        actor_name=actor.name[:128],
        actor_id=actor.id,
        ip=actor.ip,
        action=action[:64],
        target=target[:200],
        details=details or {},
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _aware(moment: datetime) -> datetime:
    """A time without offset (a datetime-local form field) is UTC, as everywhere in Flowscope."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _filtered(query: Select[AuditEntry], f: AuditFilter) -> Select[AuditEntry]:
    if f.actor:
        query = query.where(AuditEntry.actor_name == f.actor)
    if f.action:  # "flow" finds flow.created and flow.updated; "login.failed" finds itself
        query = query.where(
            or_(
                AuditEntry.action == f.action,
                AuditEntry.action.like(_like_prefix(f.action + "."), escape="\\"),
            )
        )
    if f.target:  # "flow" finds every flow, "flow:orders" that one
        query = query.where(
            or_(
                AuditEntry.target == f.target,
                AuditEntry.target.like(_like_prefix(f.target + ":"), escape="\\"),
            )
        )
    if f.ip:
        query = query.where(AuditEntry.ip == f.ip)
    if f.since:
        query = query.where(AuditEntry.at >= _aware(f.since))
    if f.until:
        query = query.where(AuditEntry.at < _aware(f.until))
    return query


def search(
    session: Session, f: AuditFilter, *, limit: int = 100, before: int | None = None
) -> Sequence[AuditEntry]:
    """Newest first; `before` (an entry id) pages back through older entries."""
    query = _filtered(select(AuditEntry), f)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    limit = max(1, min(limit, MAX_LIMIT))
    return session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)).all()


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": {"kind": entry.actor_kind, "name": entry.actor_name, "id": entry.actor_id},
        "ip": entry.ip,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details,
    }
