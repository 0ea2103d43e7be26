"""The users page for admins: create, change role, disable, reset password, end sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from flowscope.auth import service, sessions, users
from flowscope.auth.models import Role, User
from flowscope.deps import RequireRole, SessionDep, verify_csrf
from flowscope.errors import FlowscopeError
from flowscope.web import is_htmx, redirect, render

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
AdminUser = Annotated[User, Depends(RequireRole(Role.admin))]
PAGE = "auth/users.html"


def _page(
    request: Request,
    session: Session,
    admin: User,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    lifetimes = sessions.Lifetimes.of(request.app.state.settings)
    context: dict[str, Any] = {
        "user": admin,
        "users": users.list_users(session),
        "activity": sessions.activity(session, now=datetime.now(UTC), lifetimes=lifetimes),
        "roles": list(Role),
        "error": error,
        "flash": request.session.pop("flash", None),
    }
    return render(request, PAGE, context, status_code=status_code)


def _done(request: Request, message: str) -> Response:
    request.session["flash"] = message
    return redirect(request, str(request.url_for("users").path))


def _change(request: Request, session: Session, admin: User, work: Callable[[], str]) -> Response:
    """Run one change; on a user error show the page again with it (nothing was changed:
    every check comes before the first write)."""
    try:
        message = work()
    except FlowscopeError as exc:
        if exc.status_code == 404:
            raise
        # HTMX swaps only 2xx answers: a boosted form gets 200 so the error is shown
        status = 200 if is_htmx(request) else exc.status_code
        return _page(request, session, admin, error=exc.message, status_code=status)
    return _done(request, message)


@router.get("/admin/users", name="users")
def users_page(request: Request, session: SessionDep, admin: AdminUser) -> Response:
    return _page(request, session, admin)


@router.post("/admin/users", name="user_create")
def user_create(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[Role, Form()] = Role.viewer,
) -> Response:
    def work() -> str:
        created = service.create_user(session, username, password, role)
        return f"Created {created.username} ({role.value})."

    return _change(request, session, admin, work)


@router.post("/admin/users/{user_id}/role", name="user_set_role")
def user_set_role(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    user_id: int,
    role: Annotated[Role, Form()],
) -> Response:
    target = users.get_user(session, user_id)

    def work() -> str:
        users.set_role(session, target, role)
        return f"{target.username} is now {role.value}."

    return _change(request, session, admin, work)


@router.post("/admin/users/{user_id}/disable", name="user_disable")
def user_disable(request: Request, session: SessionDep, admin: AdminUser, user_id: int) -> Response:
    target = users.get_user(session, user_id)

    def work() -> str:
        ended = users.set_disabled(session, target, True)
        return f"Disabled {target.username}; {ended} session(s) ended."

    return _change(request, session, admin, work)


@router.post("/admin/users/{user_id}/enable", name="user_enable")
def user_enable(request: Request, session: SessionDep, admin: AdminUser, user_id: int) -> Response:
    target = users.get_user(session, user_id)

    def work() -> str:
        users.set_disabled(session, target, False)
        return f"Enabled {target.username}."

    return _change(request, session, admin, work)


@router.post("/admin/users/{user_id}/password", name="user_set_password")
def user_set_password(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    user_id: int,
    password: Annotated[str, Form()],
) -> Response:
    target = users.get_user(session, user_id)

    def work() -> str:
        ended = users.set_password(session, target, password)
        return f"New password set for {target.username}; {ended} session(s) ended."

    return _change(request, session, admin, work)


@router.post("/admin/users/{user_id}/sessions/end", name="user_end_sessions")
def user_end_sessions(
    request: Request, session: SessionDep, admin: AdminUser, user_id: int
) -> Response:
    target = users.get_user(session, user_id)

    def work() -> str:
        ended = users.end_sessions(session, target)
        return f"Ended {ended} session(s) of {target.username}."

    return _change(request, session, admin, work)
