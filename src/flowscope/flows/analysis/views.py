"""The analyst's pages: the flows list (home), a flow (KPIs, diagram, drill-down, variants,
conformance) and one flow instance's timeline.

Routes only parse the query, call the services the JSON routes call (`flowscope.flows.
analysis`, `drilldown`, `overview`) and render. Every route that shows one flow resolves it once
(`FlowContextDep`, declared after `CurrentUser` so that an anonymous visitor is sent to sign in
before anything says whether the flow exists). An HTMX request that targets one part of the
flow page (`HX-Target: drilldown` or `overview`) gets only that block, so clicking a step does
not recompute the KPIs and the diagram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from flowscope.auth.models import Role
from flowscope.deps import CurrentUser, DatabaseDep, SessionDep
from flowscope.errors import FlowscopeError
from flowscope.flows.analysis import drilldown, kpis, overview, timeline
from flowscope.flows.analysis.context import FlowContext, FlowContextDep
from flowscope.flows.analysis.csv_export import csv_rows
from flowscope.flows.analysis.diagram import figures, layout
from flowscope.flows.analysis.formatting import register
from flowscope.flows.analysis.schemas import InstancePage, Variants
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.timeframes import RANGE_LABELS, RANGES, Timeframe, timeframe
from flowscope.web import is_htmx, render, templates

router = APIRouter(include_in_schema=False)
register(templates.env)

TABS = ("flows", "variants", "conformance")
STATUSES: list[tuple[str, str]] = [
    ("", "All"),
    ("completed", "Completed"),
    ("in_progress", "In progress"),
    ("stalled", "Stalled"),
    ("dropped", "Dropped"),
    ("exception", "With business exception"),
]
SORTS = [
    ("last_activity", "Latest activity first"),
    ("duration", "Longest first"),
    ("revenue", "Highest revenue first"),
]
PAGE_SIZE = 50

RangeQ = Annotated[str | None, Query(alias="range", max_length=16)]
FromQ = Annotated[str | None, Query(alias="from", max_length=40)]
ToQ = Annotated[str | None, Query(alias="to", max_length=40)]


@dataclass(frozen=True)
class DrilldownQuery:
    """The drill-down filter as the URL carries it: one definition for the flow page and its
    CSV export, so the file holds exactly the flows the page lists."""

    range_: str | None
    start: str | None
    end: str | None
    step: str | None
    status: str
    q: str
    prop_name: str
    prop_value: str
    sort: str

    def timeframe(self, now: datetime) -> Timeframe:
        return timeframe(self.range_, self.start, self.end, now)

    def instance_filter(self, tf: Timeframe) -> drilldown.InstanceFilter:
        """The service's filter; a property filter needs both a name and a value."""
        properties = (
            ((self.prop_name, self.prop_value),) if self.prop_name and self.prop_value else ()
        )
        return drilldown.InstanceFilter(
            step=self.step or None,
            status=drilldown.parse_status(self.status),
            q=self.q or None,
            properties=properties,
            sort=drilldown.parse_sort(self.sort),
            start=tf.start,
            end=tf.end,
        )

    def params(self) -> dict[str, str | None]:
        """The filter's query parameters for links, defaults left out."""
        return {
            "step": self.step or None,
            "status": self.status or None,
            "q": self.q or None,
            "prop_name": self.prop_name or None,
            "prop_value": self.prop_value or None,
            "sort": self.sort if self.sort != "last_activity" else None,
        }


def drilldown_query(
    range_: RangeQ = None,
    start: FromQ = None,
    end: ToQ = None,
    step: Annotated[str | None, Query(max_length=64)] = None,
    status: str = "",
    q: Annotated[str, Query(max_length=256)] = "",
    prop_name: Annotated[str, Query(max_length=128)] = "",
    prop_value: Annotated[str, Query(max_length=256)] = "",
    sort: str = "last_activity",
) -> DrilldownQuery:
    return DrilldownQuery(range_, start, end, step, status, q, prop_name, prop_value, sort)


DrilldownQueryDep = Annotated[DrilldownQuery, Depends(drilldown_query)]


def _partial(request: Request) -> str | None:
    """The block an HTMX request asks for, or None for a full page (boosted navigation and
    history restores swap the whole body)."""
    if not is_htmx(request) or request.headers.get("hx-boosted") == "true":
        return None
    if request.headers.get("hx-history-restore-request") == "true":
        return None
    target = request.headers.get("hx-target")
    return target if target in ("drilldown", "overview") else None


@router.get("/", name="home")
def home(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    data = overview.flows_overview(session)
    return render(request, "flows/list.html", {"data": data, "user": user})


def _timeline_url(request: Request, slug: str, correlation_id: str) -> str:
    # Correlation ids are arbitrary text: encode every reserved character (`/`, `?`, `#`).
    return request.url_for(
        "flow_timeline", slug=slug, correlation_id=quote(correlation_id, safe="")
    ).path


@router.get("/flows/{slug}", name="flow")
def flow_page(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    flow: FlowContextDep,
    query: DrilldownQueryDep,
    refresh: bool = False,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    tab: str = "flows",
) -> Response:
    now = datetime.now(UTC)
    tf = query.timeframe(now)
    if tab not in TABS:
        raise FlowscopeError(f"tab: must be one of {', '.join(TABS)}")
    instances = query.instance_filter(tf)  # a bad filter is refused before anything is computed
    slug, definition = flow.slug, flow.definition
    filters: dict[str, Any] = {**query.params(), "tab": tab if tab != "flows" else None}
    base = {**tf.params(), "refresh": "1" if refresh else None}
    page_path = request.url_for("flow", slug=slug).path

    def link(**changes: Any) -> str:
        # `from_`/`to_` stand for `from`/`to`, which are not valid keyword names in templates.
        params = {**base, **filters, **{k.rstrip("_"): v for k, v in changes.items()}}
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return f"{page_path}?{query}" if query else page_path

    context: dict[str, Any] = {
        "user": user,
        "slug": slug,
        "flow": flow.flow,
        "definition": definition,
        "tf": tf,
        "ranges": RANGE_LABELS,
        "refresh": refresh,
        "filters": filters,
        "base_params": base,
        "link": link,
        "page_path": page_path,
        "step_url": lambda key: link(step=key, cursor=None, tab=None),
        "statuses": STATUSES,
        "sorts": SORTS,
        "properties": _property_names(definition),
        "step_names": {s.key: s.name for s in definition.steps},
        "timeline_url": lambda cid: _timeline_url(request, slug, cid),
        "csv_url": f"{request.url_for('flow_instances_csv', slug=slug).path}?"
        + urlencode({k: v for k, v in {**tf.params(), **filters}.items() if v}),
        "now": now,
        # Viewers cannot edit: no link that would only answer 403.
        "edit_url": (
            request.url_for("flow_edit", slug=slug).path if user.role.allows(Role.editor) else None
        ),
    }
    block = _partial(request)
    if block != "drilldown":
        result = kpis.flow_analysis(session, flow, start=tf.start, end=tf.end, now=now)
        context["result"] = result
        context["layout"] = layout(definition)
        context["diagram"] = figures(result)
    if block != "overview":
        context["drill"] = _drilldown(session, flow, tf, instances, cursor, tab, now)
        context["partial"] = block == "drilldown"
    return render(request, "flows/flow.html", context, block=block)


def _property_names(definition: FlowDefinition) -> list[str]:
    names: list[str] = []
    for s in definition.steps:
        names.extend(p.name for p in s.properties if p.name not in names)
    return names


@dataclass(frozen=True)
class Drilldown:
    """What the drill-down under the diagram shows: one page of instances (and the cursor it
    was asked for, to offer "First page", and how many match over all pages), or the
    variants for the variants and conformance tabs."""

    instances: InstancePage | None = None
    cursor: str | None = None
    variants: Variants | None = None
    total: int | None = None
    page_size: int = PAGE_SIZE


def _drilldown(
    session: Session,
    flow: FlowContext,
    tf: Timeframe,
    query: drilldown.InstanceFilter,
    cursor: str | None,
    tab: str,
    now: datetime,
) -> Drilldown:
    if tab in ("variants", "conformance"):
        return Drilldown(variants=drilldown.variants(session, flow, start=tf.start, end=tf.end))
    page = drilldown.list_instances(session, flow, query, limit=PAGE_SIZE, cursor=cursor, now=now)
    total = drilldown.count_instances(session, flow, query, now=now)
    return Drilldown(instances=page, cursor=cursor, total=total, page_size=PAGE_SIZE)


@router.get("/flows/{slug}/instances.csv", name="flow_instances_csv")
def flow_instances_csv(
    db: DatabaseDep,
    session: SessionDep,
    user: CurrentUser,
    flow: FlowContextDep,
    query: DrilldownQueryDep,
) -> Response:
    """The unique flows of the current filter as CSV, streamed page by page (keyset), so an
    export of a million rows never sits in memory."""
    now = datetime.now(UTC)
    instances = query.instance_filter(query.timeframe(now))
    # Validate before streaming starts: a bad filter answers 400, not a truncated file.
    drilldown.list_instances(session, flow, instances, limit=1, now=now)
    columns = _property_names(flow.definition)
    filename = f"{flow.slug}-flows-{now:%Y%m%dT%H%M}.csv"
    return StreamingResponse(
        csv_rows(db, flow, instances, columns, now),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/flows/{slug}/instances/{correlation_id:path}", name="flow_timeline")
def flow_timeline(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    flow: FlowContextDep,
    correlation_id: str,
) -> Response:
    data = timeline.timeline(session, flow, correlation_id)
    page_path = request.url_for("flow", slug=flow.slug).path
    # Links back keep a timeframe that holds this flow, else its step table would not list it.
    back = _range_containing(data.instance.started_at, datetime.now(UTC))

    def step_link(key: str) -> str:
        return f"{page_path}?{urlencode({**back, 'step': key})}#drilldown"

    context = {
        "user": user,
        "slug": flow.slug,
        "flow": flow.flow,
        "definition": flow.definition,
        "data": data,
        "step_names": {s.key: s.name for s in flow.definition.steps},
        "step_link": step_link,
        "flow_link": f"{page_path}?{urlencode(back)}",
    }
    return render(request, "flows/timeline.html", context)


def _range_containing(started_at: datetime, now: datetime) -> dict[str, str]:
    for key, span in RANGES.items():
        if now - span <= started_at:
            return {"range": key}
    start = started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    return {"range": "custom", "from": start, "to": now.strftime("%Y-%m-%dT%H:%M")}
