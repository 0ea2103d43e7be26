"""Server-side sign-in sessions. Functions take a session and plain values; never commit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from flowscope.auth.models import UserSession
from flowscope.settings import Settings

# Writing last_seen_at on every request would turn each page view into a row update; a minute
# of slack on an idle timeout of hours changes nothing.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, settings: Settings) -> Lifetimes:
        return cls(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_max_hours),
        )


def hash_id(raw: str) -> str:
    """Ids are 256-bit random, so a plain SHA-256 cannot be reversed or guessed."""
    return hashlib.sha256(raw.encode()).hexdigest()


def start(
    session: Session,
    user_id: int,
    *,
    now: datetime,
    lifetimes: Lifetimes,
    ip: str | None,
    user_agent: str | None,
) -> str:
    """A new session for `user_id`; returns the raw id for the cookie (stored only hashed)."""
    raw = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id_hash=hash_id(raw),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetimes.absolute,
            ip=ip,
            user_agent=(user_agent or "")[:256] or None,
        )
    )
    session.flush()
    return raw


def _expired(idle: timedelta, now: datetime) -> ColumnElement[bool]:
    return or_(UserSession.expires_at <= now, UserSession.last_seen_at <= now - idle)


def resolve(session: Session, raw: str, *, now: datetime, lifetimes: Lifetimes) -> int | None:
    """The user id of a live session (and note that it was used), else None."""
    row = session.get(UserSession, hash_id(raw))
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at <= now - lifetimes.idle:
        session.delete(row)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row.user_id


def end(session: Session, raw: str) -> int | None:
    """End one session (sign-out); returns whose it was."""
    user_id = session.scalar(
        delete(UserSession)
        .where(UserSession.id_hash == hash_id(raw))
        .returning(UserSession.user_id)
    )
    return user_id


def end_all(session: Session, user_id: int) -> int:
    """End every session of a user; returns how many there were."""
    ended = session.scalars(
        delete(UserSession).where(UserSession.user_id == user_id).returning(UserSession.id_hash)
    ).all()
    return len(ended)


def purge_expired(session: Session, *, now: datetime, lifetimes: Lifetimes) -> int:
    """Delete sessions nobody can use any more (run at sign-in; the table stays small)."""
    gone = session.scalars(
        delete(UserSession).where(_expired(lifetimes.idle, now)).returning(UserSession.id_hash)
    ).all()
    return len(gone)


@dataclass(frozen=True)
class Activity:
    sessions: int
    last_seen_at: datetime | None


def activity(session: Session, *, now: datetime, lifetimes: Lifetimes) -> dict[int, Activity]:
    """Live sessions per user and when they were last used, for the users page."""
    rows = session.execute(
        select(UserSession.user_id, func.count(), func.max(UserSession.last_seen_at))
        .where(~_expired(lifetimes.idle, now))
        .group_by(UserSession.user_id)
    )
    return {user_id: Activity(count, seen) for user_id, count, seen in rows}
