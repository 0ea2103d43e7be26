"""JSON routes of the flow analysis: the overview of every flow, one flow's KPIs, its instances,
one instance's timeline, variants and builds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from flowscope.auth.models import Role, Scope
from flowscope.deps import RequireScope, SessionDep
from flowscope.flows.analysis import drilldown, kpis, overview, timeline
from flowscope.flows.analysis.context import FlowContextDep
from flowscope.flows.analysis.schemas import (
    Builds,
    BuildStatus,
    FlowAnalysis,
    FlowsOverview,
    InstancePage,
    Timeline,
    Variants,
)
from flowscope.flows.correlation.builds import builds_of
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


@router.get("/overview", name="api_flows_overview", response_model=FlowsOverview)
def get_overview(session: SessionDep, start: From = None, end: To = None) -> FlowsOverview:
    """Every flow with KPIs for instances started in `[from, to)` (default: the last 24 h),
    the change against the timeframe before, and 24 buckets of started/completed instances."""
    start_at, end_at = bounds(start, end, datetime.now(UTC))
    return overview.flows_overview(session, start=start_at, end=end_at)


@router.get("/flows/{slug}/analysis", name="api_flow_analysis", response_model=FlowAnalysis)
def get_analysis(
    session: SessionDep, flow: FlowContextDep, start: From = None, end: To = None
) -> FlowAnalysis:
    """KPIs for instances started in `[from, to)` (default: the last 24 h) and the timeframe
    before it; per step and per edge figures."""
    start_at, end_at = bounds(start, end, datetime.now(UTC))
    return kpis.flow_analysis(session, flow, start=start_at, end=end_at)


@router.get("/flows/{slug}/instances", name="api_flow_instances", response_model=InstancePage)
def get_instances(
    session: SessionDep,
    flow: FlowContextDep,
    step: str | None = None,
    status: drilldown.Status | None = None,
    q: Annotated[str | None, Query(max_length=256)] = None,
    prop: Annotated[list[str], Query(alias="property", description="name:value")] = [],  # noqa: B006
    sort: drilldown.Sort = "last_activity",
    limit: Annotated[int, Query(ge=1, le=drilldown.MAX_LIMIT)] = 50,
    cursor: str | None = None,
    start: From = None,
    end: To = None,
) -> InstancePage:
    """The flow's instances, filtered, one keyset page at a time (see `drilldown`)."""
    start_at, end_at = bounds(start, end, datetime.now(UTC))
    filters = drilldown.InstanceFilter(
        step=step,
        status=status,
        q=q,
        properties=tuple(drilldown.parse_property_filters(prop)),
        sort=sort,
        start=start_at,
        end=end_at,
    )
    return drilldown.list_instances(session, flow, filters, limit=limit, cursor=cursor)


@router.get(
    "/flows/{slug}/instances/{correlation_id:path}",
    name="api_flow_instance",
    response_model=Timeline,
)
def get_instance(session: SessionDep, flow: FlowContextDep, correlation_id: str) -> Timeline:
    """One instance and its events in time order, with the wait before each."""
    return timeline.timeline(session, flow, correlation_id)


@router.get("/flows/{slug}/variants", name="api_flow_variants", response_model=Variants)
def get_variants(
    session: SessionDep,
    flow: FlowContextDep,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Variants:
    """The step sequences instances took, most frequent first, and their conformance."""
    start_at, end_at = bounds(start, end, datetime.now(UTC))
    return drilldown.variants(session, flow, start=start_at, end=end_at, limit=limit)


@router.get("/flows/{slug}/builds", name="api_flow_builds", response_model=Builds)
def get_builds(session: SessionDep, flow: FlowContextDep) -> Builds:
    """The flow's builds, newest first: a rebuild's progress after a definition change."""
    found = builds_of(session, flow.flow.id)
    return Builds(version=flow.flow.version, builds=[BuildStatus.of(b) for b in found])
