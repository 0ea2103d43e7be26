"""`GET /api/v1/audit`: the audit log for admin tokens and admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from flowscope.audit import service
from flowscope.audit.schemas import AuditPage
from flowscope.auth.models import ApiToken, Role, Scope, User
from flowscope.deps import RequireScope, SessionDep
from flowscope.params import Text
from flowscope.timeframes import parse_time

router = APIRouter(prefix="/api/v1", tags=["audit"])
Auditor = Annotated[ApiToken | User, Depends(RequireScope(Scope.admin, allow_user_role=Role.admin))]


@router.get(
    "/audit",
    response_model=AuditPage,
    name="api_audit",
    summary="Changes and sign-ins, newest first",
)
def audit_log(
    session: SessionDep,
    _: Auditor,
    actor: Annotated[Text | None, Query(max_length=128, description="Exact actor name")] = None,
    action: Annotated[
        Text | None, Query(max_length=64, description="An action, or its prefix: `flow`, `login`")
    ] = None,
    target: Annotated[
        Text | None, Query(max_length=200, description="`flow:orders`, or a kind: `flow`")
    ] = None,
    ip: Annotated[Text | None, Query(max_length=64)] = None,
    since: Annotated[
        Text | None, Query(max_length=64, description="From this time (inclusive): ISO or -2h")
    ] = None,
    until: Annotated[Text | None, Query(max_length=64, description="Before this time")] = None,
    before: Annotated[
        int | None, Query(gt=0, le=2**63 - 1, description="Entries older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    start = parse_time(since, now, "since") if since else None
    end = parse_time(until, now, "until") if until else None
    filters = service.AuditFilter(actor, action, target, ip, start, end)
    entries = service.search(session, filters, limit=limit, before=before)
    more = len(entries) == limit
    return {
        "entries": [service.as_dict(e) for e in entries],
        "next_before": entries[-1].id if entries and more else None,
    }
