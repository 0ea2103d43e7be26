"""One sign-in attempt: throttle check, password check, then a session or a recorded failure.

Unlike other services this one takes the `Database` and runs two short transactions: the
argon2 hash (64 MiB, ~0.1-0.5 s) runs between them, so no pooled connection is held while it
computes. The caller runs it in a thread under the hash limiter (`auth.views.login`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from flowscope.audit import service as audit
from flowscope.auth import passwords, sessions, throttle
from flowscope.auth.models import User
from flowscope.db import Database, transaction


@dataclass(frozen=True)
class Outcome:
    session_id: str | None = None  # the new session's raw id: signed in
    retry_after: int | None = None  # throttled: seconds to wait


@dataclass(frozen=True)
class _Account:
    id: int
    username: str
    password_hash: str
    disabled: bool


def attempt(
    db: Database,
    username: str,
    password: str,
    *,
    ip: str | None,
    user_agent: str | None,
    lifetimes: sessions.Lifetimes,
) -> Outcome:
    now = datetime.now(UTC)
    with transaction(db.sessions) as session:
        wait = throttle.retry_after(session, username, ip, now)
        user = session.scalar(select(User).where(User.username == username))
        account = (
            _Account(user.id, user.username, user.password_hash, user.disabled) if user else None
        )
    if wait is not None:
        return Outcome(retry_after=wait)

    ok, rehash = passwords.verify(account.password_hash if account else None, password)
    now = datetime.now(UTC)  # a wait counts from the answer, not from before the hash

    with transaction(db.sessions) as session:
        if not ok or account is None or account.disabled:
            audit.act_as(session, audit.Actor("anonymous", "anonymous", ip=ip))
            throttle.record_failure(session, username, ip, now)
            reason = "unknown user" if account is None else "disabled" if ok else "wrong password"
            audit.record(session, "login.failed", f"user:{username[:64]}", {"reason": reason})
            return Outcome()
        audit.act_as(session, audit.Actor("user", account.username, account.id, ip))
        if rehash is not None:
            user = session.get(User, account.id)
            if user is not None:
                user.password_hash = rehash
        throttle.clear_account(session, username)
        throttle.purge(session, now)
        sessions.purge_expired(session, now=now, lifetimes=lifetimes)
        raw = sessions.start(
            session, account.id, now=now, lifetimes=lifetimes, ip=ip, user_agent=user_agent
        )
        audit.record(session, "login.succeeded", f"user:{account.username}")
        return Outcome(session_id=raw)
