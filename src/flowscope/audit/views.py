"""The audit log page for admins, with filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from flowscope.audit import service
from flowscope.auth.models import Role, User
from flowscope.deps import RequireRole, SessionDep
from flowscope.timeframes import parse_time
from flowscope.web import render

router = APIRouter(include_in_schema=False)
AdminUser = Annotated[User, Depends(RequireRole(Role.admin))]
PAGE_SIZE = 100


def _blank(value: str | None) -> str | None:
    """Empty form fields mean "any" (the filter form sends every field)."""
    return value.strip() or None if value else None


def _moment(value: str | None, field: str) -> datetime | None:
    """A filter time in the syntax every page takes (`-2h`, ISO 8601, datetime-local)."""
    value = _blank(value)
    return None if value is None else parse_time(value, datetime.now(UTC), field)


@router.get("/admin/audit", name="audit")
def audit_page(
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    before: Annotated[int | None, Query(gt=0, le=2**63 - 1)] = None,
) -> Response:
    filters = service.AuditFilter(
        _blank(actor),
        _blank(action),
        _blank(target),
        _blank(ip),
        _moment(since, "since"),
        _moment(until, "until"),
    )
    entries = service.search(session, filters, limit=PAGE_SIZE, before=before)
    query = {k: v for k, v in request.query_params.items() if k != "before" and v}
    older = None
    if len(entries) == PAGE_SIZE:
        older = request.url.include_query_params(**query, before=entries[-1].id)
    context = {
        "user": admin,
        "entries": entries,
        "filters": filters,
        "values": query,
        "older": older,
    }
    return render(request, "audit/log.html", context)
