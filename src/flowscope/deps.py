"""Request dependencies shared by every domain, as `Annotated` aliases."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from flowscope.auth import service as auth_service
from flowscope.auth.models import ApiToken, Role, Scope, User
from flowscope.db import Database
from flowscope.errors import Forbidden, LoginRequired, Unauthorized
from flowscope.settings import Settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, else rolled back."""
    with get_database(request).sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


def _bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    kind, _, secret = header.partition(" ")
    if kind.lower() not in ("api-token", "bearer") or not secret.strip():
        raise Unauthorized("Authorization header must be 'Api-Token <token>' or 'Bearer <token>'")
    return secret.strip()


def optional_token(request: Request, session: SessionDep) -> ApiToken | None:
    secret = _bearer_secret(request)
    if secret is None:
        return None
    token = auth_service.find_active_token(session, secret)
    if token is None:
        raise Unauthorized("the API token is unknown or revoked")
    return token


def optional_user(request: Request, session: SessionDep) -> User | None:
    user_id = request.session.get("uid")
    if not isinstance(user_id, int):
        return None
    return auth_service.get_user(session, user_id)


OptionalUser = Annotated[User | None, Depends(optional_user)]


def current_user(user: OptionalUser) -> User:
    if user is None:
        raise LoginRequired("please sign in")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


class RequireRole:
    """A page or action for users of at least `role` (viewer < editor < admin)."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, user: CurrentUser) -> User:
        if not user.role.allows(self.role):
            raise Forbidden(f"this needs the {self.role.value} role")
        return user


class RequireScope:
    """An API route for tokens with `scope`; an `admin` token may do everything."""

    def __init__(self, scope: Scope, *, allow_user_role: Role | None = None) -> None:
        self.scope = scope
        self.allow_user_role = allow_user_role

    def __call__(
        self,
        token: Annotated[ApiToken | None, Depends(optional_token)],
        user: OptionalUser,
    ) -> ApiToken | User:
        if token is not None:
            if self.scope.value in token.scopes or Scope.admin.value in token.scopes:
                return token
            raise Forbidden(f"the API token lacks the scope {self.scope.value}")
        if self.allow_user_role is not None and user is not None:
            if user.role.allows(self.allow_user_role):
                return user
            raise Forbidden(f"this needs the {self.allow_user_role.value} role")
        raise Unauthorized("an API token is required: 'Authorization: Api-Token <token>'")


CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Every state-changing request from a browser carries the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or sent is None or not secrets.compare_digest(expected, sent):
        raise Forbidden("the form has expired or did not come from this site: reload and retry")
