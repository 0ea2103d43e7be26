"""The events overview: what arrives, per provider and event type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from flowscope.deps import CurrentUser, SessionDep
from flowscope.ingest import service
from flowscope.web import render

router = APIRouter(include_in_schema=False)


@router.get("/events", name="events_overview")
def events_overview(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    since = datetime.now(UTC) - timedelta(hours=24)
    rows = service.provider_overview(session, since)
    providers: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        providers.setdefault(str(row["provider"]), []).append(row)
    ingest_url = str(request.url_for("ingest"))
    context = {"providers": providers, "user": user, "ingest_url": ingest_url}
    return render(request, "ingest/overview.html", context)
