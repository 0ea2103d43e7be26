"""Sign-in, sign-out and the API token admin page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from flowscope.auth import service
from flowscope.auth.models import Role, Scope, User
from flowscope.deps import OptionalUser, RequireRole, SessionDep, verify_csrf
from flowscope.errors import FlowscopeError
from flowscope.web import render

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
AdminUser = Annotated[User, Depends(RequireRole(Role.admin))]


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
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "auth/login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    user = service.authenticate(session, username, password)
    if user is None:
        context = {"next": _safe_next(next), "error": "Unknown user or wrong password."}
        return render(request, "auth/login.html", context, status_code=401)
    request.session.clear()  # a new session id space: nothing from before sign-in survives
    request.session["uid"] = user.id
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", name="logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse(request.url_for("login").path, status_code=303)


@router.get("/admin/tokens", name="tokens")
def tokens_page(request: Request, session: SessionDep, user: AdminUser) -> Response:
    context = {"tokens": service.list_tokens(session), "scopes": list(Scope), "created": None}
    return render(request, "auth/tokens.html", {"user": user, **context})


@router.post("/admin/tokens", name="create_token")
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
    return render(request, "auth/tokens.html", context, status_code=400 if error else 200)


@router.post("/admin/tokens/{token_id}/revoke", name="revoke_token")
def revoke_token(request: Request, session: SessionDep, user: AdminUser, token_id: int) -> Response:
    service.revoke_token(session, token_id)
    return RedirectResponse(request.url_for("tokens").path, status_code=303)
