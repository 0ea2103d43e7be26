"""JSON twin of the home page: every flow with its KPIs and trend."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from flowscope.auth.models import Role, Scope
from flowscope.deps import RequireScope, SessionDep
from flowscope.flows import analysis, overview
from flowscope.flows.analysis_api import From, To

router = APIRouter(
    prefix="/api/v1",
    tags=["flow analysis"],
    dependencies=[Depends(RequireScope(Scope.events_read, allow_user_role=Role.viewer))],
)


@router.get("/overview", name="flows_overview")
def get_overview(session: SessionDep, start: From = None, end: To = None) -> Any:
    """Every flow with KPIs for instances started in `[from, to)` (default: the last 24 h),
    the change against the timeframe before, and 24 buckets of started/completed instances."""
    return overview.flows_overview(
        session,
        start=analysis.as_utc(start) if start else None,
        end=analysis.as_utc(end) if end else None,
    )
