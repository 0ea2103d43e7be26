"""The retention page for admins: the default, every provider, and a form to change one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from flowscope.auth.models import Role, User
from flowscope.deps import RequireRole, SessionDep, verify_csrf
from flowscope.errors import FlowscopeError
from flowscope.retention import service
from flowscope.retention.rules import MAX_DAYS, rules_cache
from flowscope.web import is_htmx, redirect, render

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
AdminUser = Annotated[User, Depends(RequireRole(Role.admin))]


def _page(
    request: Request,
    session: Session,
    admin: User,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    default = request.app.state.settings.retention_days
    context: dict[str, Any] = {
        "user": admin,
        "default_days": default,
        "max_days": MAX_DAYS,
        "providers": service.list_retention(session, default),
        "error": error,
        "values": values or {},
        "flash": request.session.pop("flash", None),
    }
    return render(request, "retention/page.html", context, status_code=status_code)


@router.get("/admin/retention", name="retention")
def retention_page(request: Request, session: SessionDep, admin: AdminUser) -> Response:
    return _page(request, session, admin)


def _days(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise FlowscopeError(f"days: {value[:20]!r} is not a whole number of days") from None


@router.post("/admin/retention", name="retention_set")
def retention_set(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    background: BackgroundTasks,
    provider: Annotated[str, Form(max_length=300)],
    days: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Set a provider's retention; empty days: the default again."""
    default = request.app.state.settings.retention_days
    try:
        result = service.set_retention(session, provider, _days(days), default)
    except FlowscopeError as exc:
        # HTMX swaps only 2xx answers: a boosted form gets 200 so the error is shown
        status = 200 if is_htmx(request) else exc.status_code
        values = {"provider": provider, "days": days}
        return _page(request, session, admin, error=exc.message, values=values, status_code=status)
    background.add_task(rules_cache(request.app).invalidate)
    kind = "" if result.override else " (the default)"
    days = f"{result.days} days" if result.days else "forever"
    request.session["flash"] = f"{result.provider}: events kept {days}{kind}."
    return redirect(request, str(request.url_for("retention").path))
