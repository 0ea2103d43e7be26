"""Users, passwords and API tokens. Functions take a session and plain values; never commit."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.auth import passwords
from flowscope.auth.models import ApiToken, Role, Scope, User
from flowscope.errors import Conflict, FlowscopeError, NotFound

TOKEN_PREFIX = "fs_"  # noqa: S105 - a public marker, not a secret
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is only a load


def hash_password(password: str) -> str:
    return passwords.hash_password(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise FlowscopeError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise FlowscopeError(f"password: at most {MAX_PASSWORD_LENGTH} characters")


def create_user(session: Session, username: str, password: str, role: Role) -> User:
    username = username.strip()
    if not username or len(username) > 64 or not username.isprintable():
        raise FlowscopeError("username: 1 to 64 printable characters")
    check_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    audit.record(session, "user.created", f"user:{username}", {"role": role.value})
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user if the password is right and the account enabled (no throttling: the web
    sign-in goes through `auth.login.attempt`)."""
    user = session.scalar(select(User).where(User.username == username))
    ok, rehash = passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        return None
    if rehash is not None:
        user.password_hash = rehash
    return user


def get_user(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return None if user is None or user.disabled else user


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(values: Iterable[str]) -> list[str]:
    scopes: list[str] = []
    for value in values:
        try:
            scopes.append(Scope(value).value)
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise FlowscopeError(f"scope: unknown scope {value!r} (known: {known})") from None
    if not scopes:
        raise FlowscopeError("scope: give at least one scope")
    return sorted(set(scopes))


def create_token(session: Session, name: str, scopes: Iterable[str]) -> tuple[ApiToken, str]:
    """Create a token; the secret is returned once and only its hash is stored."""
    name = name.strip()
    if not name or len(name) > 128:
        raise FlowscopeError("name: 1 to 128 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, token_hash=hash_token(secret), prefix=secret[:10], scopes=parse_scopes(scopes)
    )
    session.add(token)
    session.flush()
    details = {"name": name, "scopes": token.scopes}
    audit.record(session, "token.created", f"token:{token.id}", details)
    return token, secret


def list_tokens(session: Session) -> Sequence[ApiToken]:
    return session.scalars(select(ApiToken).order_by(ApiToken.id)).all()


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        audit.record(session, "token.revoked", f"token:{token.id}", {"name": token.name})
    return token


def find_active_token(session: Session, secret: str) -> ApiToken | None:
    return session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
        )
    )


def ensure_first_admin(session: Session) -> str | None:
    """On a database without users, create `admin` with a random password and return it."""
    if count_users(session):
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, "admin", password, Role.admin)
    return password
