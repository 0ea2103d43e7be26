"""Sign-in, sign-out and the API token admin page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from flowscope.auth import service
from flowscope.auth.models import Scope
from flowscope.deps import AdminUser, OptionalUser, SessionDep, verify_csrf
from flowscope.errors import FlowscopeError
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


@router.post("/login", name="login_submit")
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
    return redirect(request, _safe_next(next))


@router.post("/logout", name="logout")
def logout(request: Request) -> Response:
    request.session.clear()
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
