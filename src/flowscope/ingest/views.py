"""The events explorer: what arrives, per provider and event type, and the latest events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from flowscope.deps import CurrentUser, SessionDep
from flowscope.errors import FlowscopeError
from flowscope.flows.analysis.formatting import register
from flowscope.flows.definitions.service import definition_of, list_flows
from flowscope.ingest import explorer
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


def by_volume(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Providers with events in the window, busiest first, each with its event types busiest
    first; a type without events in the window is left out (an empty row answers nothing)."""
    providers: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (-int(r["recent"]), str(r["type"]))):
        if row["recent"]:
            providers.setdefault(str(row["provider"]), []).append(row)
    volume = {p: sum(int(r["recent"]) for r in types) for p, types in providers.items()}
    return dict(sorted(providers.items(), key=lambda item: (-volume[item[0]], item[0])))


def correlation_paths(session: Session) -> list[str]:
    """Every field some flow correlates on (its own, and its steps' overrides)."""
    paths: list[str] = []
    for flow in list_flows(session):
        definition = definition_of(flow)
        paths.append(definition.correlation)
        paths.extend(s.correlation for s in definition.steps if s.correlation)
    return list(dict.fromkeys(paths))


@router.get("/events", name="events_overview")
def events_overview(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    provider: Annotated[str, Query(max_length=256)] = "",
    type: Annotated[str, Query(max_length=256)] = "",  # noqa: A002 - the query names the field
    window: str = DEFAULT_RANGE,
    limit: int = 50,
    cid: Annotated[str, Query(max_length=256)] = "",
    before: Annotated[int | None, Query(ge=1, description="older than this seq")] = None,
) -> Response:
    if window not in WINDOWS:
        raise FlowscopeError(f"window: must be one of {', '.join(WINDOWS)}")
    if limit not in LIMITS:
        raise FlowscopeError(f"limit: must be one of {', '.join(map(str, LIMITS))}")
    span = WINDOWS[window][1]
    since = datetime.now(UTC) - span if span else None
    everything = explorer.type_overview(session, since)
    rows = [
        r
        for r in everything
        if (not provider or r["provider"] == provider) and (not type or r["type"] == type)
    ]
    providers = by_volume(rows)
    cid = cid.strip()
    latest = explorer.latest_events(
        session,
        provider=provider or None,
        type_=type or None,
        since=since,
        limit=limit,
        correlation_id=cid or None,
        correlation_paths=correlation_paths(session) if cid else (),
        before=before,
        pairs=[(str(r["provider"]), str(r["type"])) for r in everything],
    )
    context = {
        "providers": providers,
        "all_providers": sorted({str(r["provider"]) for r in everything}),
        "all_types": sorted(
            {str(r["type"]) for r in everything if not provider or r["provider"] == provider}
        ),
        "any_events": bool(everything),
        "latest": latest,
        # Keyset pagination: the next page starts below the last event shown.
        "older": latest[-1]["seq"] if len(latest) == limit else None,
        "paged": before is not None,
        "hidden_types": sum(1 for r in rows if not r["recent"]),
        "filters": {
            "provider": provider,
            "type": type,
            "window": window,
            "limit": limit,
            "cid": cid,
        },
        "windows": {k: v[0] for k, v in WINDOWS.items()},
        "default_window": DEFAULT_RANGE,
        "limits": LIMITS,
        "user": user,
        "ingest_url": str(request.url_for("ingest")),
    }
    return render(request, "ingest/overview.html", context)
