"""The events explorer: what arrives, per provider and event type, and the latest events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from flowscope.deps import CurrentUser, SessionDep
from flowscope.errors import FlowscopeError
from flowscope.flows.analysis.formatting import register
from flowscope.ingest import service
from flowscope.timeframes import DEFAULT_RANGE, RANGE_LABELS, RANGES
from flowscope.web import render, templates

router = APIRouter(include_in_schema=False)
register(templates.env)  # the attribute tree and JSON filters shared with the flow pages

# The named ranges of every page, plus everything ever received.
WINDOWS: dict[str, tuple[str, timedelta | None]] = {
    **{key: (f"last {RANGE_LABELS[key]}", span) for key, span in RANGES.items()},
    "all": ("all time", None),
}
LIMITS = (20, 50, 100, 200)


@router.get("/events", name="events_overview")
def events_overview(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    provider: Annotated[str, Query(max_length=256)] = "",
    type: Annotated[str, Query(max_length=256)] = "",  # noqa: A002 - the query names the field
    window: str = DEFAULT_RANGE,
    limit: int = 50,
) -> Response:
    if window not in WINDOWS:
        raise FlowscopeError(f"window: must be one of {', '.join(WINDOWS)}")
    if limit not in LIMITS:
        raise FlowscopeError(f"limit: must be one of {', '.join(map(str, LIMITS))}")
    span = WINDOWS[window][1]
    since = datetime.now(UTC) - span if span else None
    everything = service.provider_overview(session, since)
    rows = [
        r
        for r in everything
        if (not provider or r["provider"] == provider) and (not type or r["type"] == type)
    ]
    providers: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        providers.setdefault(str(row["provider"]), []).append(row)
    latest = service.latest_events(
        session, provider=provider or None, type_=type or None, since=since, limit=limit
    )
    context = {
        "providers": providers,
        "all_providers": sorted({str(r["provider"]) for r in everything}),
        "all_types": sorted(
            {str(r["type"]) for r in everything if not provider or r["provider"] == provider}
        ),
        "any_events": bool(everything),
        "latest": latest,
        "filters": {"provider": provider, "type": type, "window": window, "limit": limit},
        "windows": {k: v[0] for k, v in WINDOWS.items()},
        "default_window": DEFAULT_RANGE,
        "limits": LIMITS,
        "user": user,
        "ingest_url": str(request.url_for("ingest")),
    }
    return render(request, "ingest/overview.html", context)
