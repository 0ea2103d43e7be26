"""Request dependencies shared by every domain, as `Annotated` aliases."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.auth import browser, sessions
from flowscope.auth import service as auth_service
from flowscope.auth.models import ApiToken, Role, Scope, User
from flowscope.db import Database
from flowscope.deadlines import within
from flowscope.errors import (
    FlowscopeError,
    Forbidden,
    LoginRequired,
    PayloadTooLarge,
    Unauthorized,
)
from flowscope.settings import Settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, else rolled back.

    Routes and services never commit. A side effect that must see the committed rows (waking
    the scheduler after a generator was saved) goes to `BackgroundTasks`: those run after the
    response, so after this commit, and not at all when the request fails.
    """
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


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    kind, _, secret = header.partition(" ")
    if kind.lower() not in ("api-token", "bearer") or not secret.strip():
        raise Unauthorized("Authorization header must be 'Api-Token <token>' or 'Bearer <token>'")
    return secret.strip()


def optional_token(request: Request, session: SessionDep) -> ApiToken | None:
    secret = bearer_secret(request)
    if secret is None:
        return None
    token = auth_service.find_active_token(session, secret)
    if token is None:
        raise Unauthorized("the API token is unknown or revoked")
    actor = audit.Actor("token", f"token:{token.name}", token.id, browser.client_address(request))
    audit.act_as(session, actor)  # what this request changes is the token's doing
    return token


_SCOPES_OF_LIVE_HASH = "select scopes from api_tokens where token_hash = %s and revoked_at is null"


def require_token_scope(conn: psycopg.Connection[Any], token_hash: str, scope: Scope) -> None:
    """The token check of the ingest route: one indexed query on the request's connection.

    No ORM and no extra thread-pool hop; a token revoked before the query is refused.
    """
    with conn.cursor() as cur:
        row = cur.execute(_SCOPES_OF_LIVE_HASH, (token_hash,)).fetchone()
    if row is None:
        raise Unauthorized("the API token is unknown or revoked")
    scopes: list[str] = row[0]
    if scope.value not in scopes and Scope.admin.value not in scopes:
        raise Forbidden(f"the API token lacks the scope {scope.value}")


class RecentTokens:
    """Hashes of tokens that passed `require_token_scope` lately, per scope.

    Only a hint that lets the ingest route skip the separate check before it parses a body:
    the insert checks the token again in the same statement (see
    `ingest.service.store_events_for_token`), so a revoked token never stores anything, in any
    process, whatever this remembers. Unknown tokens are never remembered. The one visible
    effect: for up to `ttl_seconds` after its last success, a revoked token whose body cannot be
    parsed gets the 400/413/415 about the body instead of 401 (nothing is stored either way).
    """

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._seen: dict[tuple[str, Scope], float] = {}

    def recently_valid(self, token_hash: str, scope: Scope) -> bool:
        seen = self._seen.get((token_hash, scope))
        return seen is not None and time.monotonic() - seen < self.ttl

    def remember(self, token_hash: str, scope: Scope) -> None:
        if len(self._seen) >= self.max_entries:
            self._seen.clear()  # rare; the next requests simply check again
        self._seen[(token_hash, scope)] = time.monotonic()

    def forget(self, token_hash: str) -> None:
        for key in [k for k in self._seen if k[0] == token_hash]:
            self._seen.pop(key, None)


recent_tokens = RecentTokens()


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The user of the request's server-side session, if it is live and the user enabled.

    Only the random session id comes from the browser; everything else is read from the
    database, so a cookie someone made or kept after sign-out signs nobody in.
    """
    state = browser.browser_state(request)
    if state.session_id is None:
        return None
    lifetimes = sessions.Lifetimes.of(get_settings(request))
    now = datetime.now(UTC)
    user_id = sessions.resolve(session, state.session_id, now=now, lifetimes=lifetimes)
    user = auth_service.get_user(session, user_id) if user_id is not None else None
    if user is None:
        state.drop_session = True  # ended, expired or disabled: clear the stale cookie
        return None
    actor = audit.Actor("user", user.username, user.id, browser.client_address(request))
    audit.act_as(session, actor, replace=False)  # a request with a token stays the token's
    return user


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


# Pages and actions by role: a signed-in user is at least a viewer (`CurrentUser`).
EditorUser = Annotated[User, Depends(RequireRole(Role.editor))]
AdminUser = Annotated[User, Depends(RequireRole(Role.admin))]


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
    return browser.csrf_for(request)


async def verify_csrf(request: Request) -> None:
    """Every state-changing request from a browser carries the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    expected = browser.expected_csrf(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or sent is None or not secrets.compare_digest(expected, sent):
        raise Forbidden("the form has expired or did not come from this site: reload and retry")


async def read_limited_body(request: Request, settings: Settings) -> bytes:
    """The request body, refused with 413 as soon as it passes the configured limit, and with
    408 when it has not fully arrived within `body_timeout_seconds` (a stalled client would
    otherwise hold what it sent so far, up to the limit, for as long as it likes)."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        with within(settings.body_timeout_seconds):  # no timer per request
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        error = FlowscopeError(
            f"body: not received within {settings.body_timeout_seconds:g} s "
            f"({size} bytes arrived); send it at once",
            status_code=408,
        )
        error.code = "request_timeout"
        raise error from None
    return b"".join(chunks)


async def _limited_body(request: Request, settings: SettingsDep) -> bytes:
    return await read_limited_body(request, settings)


LimitedBody = Annotated[bytes, Depends(_limited_body)]
