"""JSON routes of the flow analysis: the overview of every flow, one flow's KPIs, its instances,
one instance's timeline, variants and builds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from flowscope.auth.models import Role, Scope
from flowscope.deps import RequireScope, SessionDep
from flowscope.flows.analysis import drilldown, kpis, overview
from flowscope.flows.correlation.builds import build_status, builds_of
from flowscope.flows.definitions.service import get_flow
from flowscope.timeframes import bounds

router = APIRouter(
    prefix="/api/v1",
    tags=["flow analysis"],
    dependencies=[Depends(RequireScope(Scope.events_read, allow_user_role=Role.viewer))],
)

From = Annotated[
    str | None,
    Query(alias="from", max_length=64, description="start: -2h, now-1d or ISO 8601 (UTC if naive)"),
]
To = Annotated[str | None, Query(alias="to", max_length=64, description="end, exclusive")]


@router.get("/overview", name="flows_overview")
def get_overview(session: SessionDep, start: From = None, end: To = None) -> Any:
    """Every flow with KPIs for instances started in `[from, to)` (default: the last 24 h),
    the change against the timeframe before, and 24 buckets of started/completed instances."""
    start_at, end_at = bounds(start, end, datetime.now(UTC))
    return overview.flows_overview(session, start=start_at, end=end_at)


@router.get("/flows/{slug}/analysis", name="flow_analysis")
def get_analysis(session: SessionDep, slug: str, start: From = None, end: To = None) -> Any:
    """KPIs for instances started in `[from, to)` (default: the last 24 h) and the timeframe
    before it; per step and per edge figures."""
    start_at, end_at = bounds(start, end, datetime.now(UTC))
    return kpis.flow_analysis(session, slug, start=start_at, end=end_at)


@router.get("/flows/{slug}/instances", name="flow_instances")
def get_instances(
    session: SessionDep,
    slug: str,
    step: str | None = None,
    status: drilldown.Status | None = None,
    q: Annotated[str | None, Query(max_length=256)] = None,
    prop: Annotated[list[str], Query(alias="property", description="name:value")] = [],  # noqa: B006
    sort: drilldown.Sort = "last_activity",
    limit: Annotated[int, Query(ge=1, le=drilldown.MAX_LIMIT)] = 50,
    cursor: str | None = None,
    start: From = None,
    end: To = None,
) -> Any:
    start_at, end_at = bounds(start, end, datetime.now(UTC))
    return drilldown.list_instances(
        session,
        slug,
        step=step,
        status=status,
        q=q,
        properties=drilldown.parse_property_filters(prop),
        sort=sort,
        limit=limit,
        cursor=cursor,
        start=start_at,
        end=end_at,
    )


@router.get("/flows/{slug}/instances/{correlation_id:path}", name="flow_instance")
def get_instance(session: SessionDep, slug: str, correlation_id: str) -> Any:
    return drilldown.timeline(session, slug, correlation_id)


@router.get("/flows/{slug}/variants", name="flow_variants")
def get_variants(
    session: SessionDep,
    slug: str,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    start_at, end_at = bounds(start, end, datetime.now(UTC))
    return drilldown.variants(session, slug, start=start_at, end=end_at, limit=limit)


@router.get("/flows/{slug}/builds", name="flow_builds")
def get_builds(session: SessionDep, slug: str) -> Any:
    """The flow's builds, newest first: a rebuild's progress after a definition change."""
    flow = get_flow(session, slug)
    return {
        "version": flow.version,
        "builds": [build_status(b) for b in builds_of(session, flow.id)],
    }
