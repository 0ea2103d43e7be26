"""Managing users: roles, disabling, passwords, sign-ins. Take a session; never commit.

Disabling a user or setting their password ends all their sessions in the same transaction:
a stolen cookie stops working the moment an admin reacts. The last enabled admin can be
neither disabled nor demoted, so an installation cannot lock itself out.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.auth import sessions
from flowscope.auth.models import Role, User
from flowscope.auth.service import check_password, hash_password
from flowscope.errors import Conflict, NotFound


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def _keep_an_admin(session: Session, user: User, what: str) -> None:
    """Refuse to take away the last enabled admin (locked, so two admins demoting each other
    at once cannot both succeed)."""
    if user.role != Role.admin or user.disabled:
        return
    admins = session.scalars(
        select(User.id).where(User.role == Role.admin, User.disabled.is_(False)).with_for_update()
    ).all()
    if len(admins) <= 1:
        raise Conflict(f"{what}: {user.username} is the only enabled admin; make another first")


def set_role(session: Session, user: User, role: Role) -> User:
    if role == user.role:
        return user
    if role != Role.admin:
        _keep_an_admin(session, user, "role")
    before = user.role
    user.role = role
    session.flush()
    details = {"from": before.value, "to": role.value}
    audit.record(session, "user.role_changed", f"user:{user.username}", details)
    return user


def set_disabled(session: Session, user: User, disabled: bool) -> int:
    """Disable (ending every session) or enable a user; returns how many sessions ended."""
    if disabled == user.disabled:
        return 0
    if disabled:
        _keep_an_admin(session, user, "disable")
    user.disabled = disabled
    ended = sessions.end_all(session, user.id) if disabled else 0
    session.flush()
    action = "user.disabled" if disabled else "user.enabled"
    audit.record(session, action, f"user:{user.username}", {"sessions_ended": ended})
    return ended


def set_password(session: Session, user: User, password: str) -> int:
    """Set a new password and end every session of the user; returns how many ended."""
    check_password(password)
    user.password_hash = hash_password(password)
    ended = sessions.end_all(session, user.id)
    session.flush()
    audit.record(session, "user.password_set", f"user:{user.username}", {"sessions_ended": ended})
    return ended


def end_sessions(session: Session, user: User) -> int:
    ended = sessions.end_all(session, user.id)
    audit.record(session, "user.sessions_ended", f"user:{user.username}", {"sessions_ended": ended})
    return ended
