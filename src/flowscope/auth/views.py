"""Sign-in, sign-out and the API token admin page."""

from __future__ import annotations

from functools import partial
from typing import Annotated
from urllib.parse import urlparse

import anyio
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import Response

from flowscope.audit import service as audit
from flowscope.auth import login as login_service
from flowscope.auth import service, sessions
from flowscope.auth.browser import browser_state, client_address
from flowscope.auth.models import Scope, User
from flowscope.deps import AdminUser, DatabaseDep, OptionalUser, SessionDep, verify_csrf
from flowscope.errors import FlowscopeError
from flowscope.settings import Settings
from flowscope.web import redirect, render, render_invalid

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host after login."""
    if not target:
        return "/"
    # Browsers read a backslash as "/" and drop tabs and newlines: "/\evil" would be "//evil".
    if "\\" in target or not target.isprintable():
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", name="login")
def login_form(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return redirect(request, _safe_next(next))
    return render(request, "auth/login.html", {"next": _safe_next(next), "error": None})


def _hash_limiter(app: FastAPI, settings: Settings) -> anyio.CapacityLimiter:
    """Sign-ins wait here, on the event loop, for one of the few hash slots: a flood of them
    holds neither threads of the shared pool nor 64 MiB each."""
    limiter: anyio.CapacityLimiter | None = getattr(app.state, "login_limiter", None)
    if limiter is None:
        limiter = app.state.login_limiter = anyio.CapacityLimiter(settings.login_hash_concurrency)
    return limiter


def _form_again(request: Request, next_: str, error: str, status: int, **headers: str) -> Response:
    context = {"next": _safe_next(next_), "error": error}
    response = render(request, "auth/login.html", context, status_code=status)
    response.headers.update(headers)
    return response


@router.post("/login", name="login_submit")
async def login(
    request: Request,
    db: DatabaseDep,
    username: Annotated[str, Form(max_length=256)],
    password: Annotated[str, Form(max_length=service.MAX_PASSWORD_LENGTH)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings: Settings = request.app.state.settings
    limiter = _hash_limiter(request.app, settings)
    busy = limiter.available_tokens == 0
    if busy and limiter.statistics().tasks_waiting >= settings.login_queue_limit:
        message = "Too many sign-ins at once: try again in a few seconds."
        return _form_again(request, next, message, 503, **{"Retry-After": "5"})
    attempt = partial(
        login_service.attempt,
        db,
        username,
        password,
        ip=client_address(request),
        user_agent=request.headers.get("user-agent"),
        lifetimes=sessions.Lifetimes.of(settings),
    )
    outcome = await anyio.to_thread.run_sync(attempt, limiter=limiter)
    if outcome.retry_after is not None:
        wait = outcome.retry_after
        message = f"Too many failed sign-ins: try again in {wait} seconds."
        return _form_again(request, next, message, 429, **{"Retry-After": str(wait)})
    if outcome.session_id is None:
        return _form_again(request, next, "Unknown user or wrong password.", 401)
    # A new id on every sign-in: an id planted in the browser before (session fixation) or
    # the CSRF token of the sign-in form is worth nothing afterwards.
    browser_state(request).new_session_id = outcome.session_id
    return redirect(request, _safe_next(next))


@router.post("/logout", name="logout")
def logout(request: Request, session: SessionDep) -> Response:
    state = browser_state(request)
    if state.session_id is not None:
        user_id = sessions.end(session, state.session_id)
        if user_id is not None:
            user = session.get(User, user_id)
            name = user.username if user else str(user_id)
            audit.act_as(session, audit.Actor("user", name, user_id, client_address(request)))
            audit.record(session, "logout", f"user:{name}")
    state.drop_session = True
    return redirect(request, request.url_for("login").path)


@router.get("/admin/tokens", name="tokens")
def tokens_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    context = {"tokens": service.list_tokens(session), "scopes": list(Scope), "created": None}
    return render(request, "auth/tokens.html", {"user": user, **context})


@router.post("/admin/tokens", name="token_create")
def create_token(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    name: Annotated[str, Form()],
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    error = None
    created = None
    try:
        _, created = service.create_token(session, name, scopes or [])
    except FlowscopeError as exc:
        error = exc.message
    context = {
        "tokens": service.list_tokens(session),
        "scopes": list(Scope),
        "created": created,
        "error": error,
        "user": user,
    }
    if error:
        return render_invalid(request, "auth/tokens.html", context)
    return render(request, "auth/tokens.html", context)


@router.post("/admin/tokens/{token_id}/revoke", name="token_revoke")
def revoke_token(request: Request, session: SessionDep, user: AdminUser, token_id: int) -> Response:
    service.revoke_token(session, token_id)
    return redirect(request, request.url_for("tokens").path)
