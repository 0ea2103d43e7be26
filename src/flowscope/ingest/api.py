"""`POST /api/v2/bizevents/ingest`: Dynatrace-compatible business event ingest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from flowscope.auth.models import Role, Scope
from flowscope.deps import RequireScope, SessionDep, SettingsDep
from flowscope.errors import PayloadTooLarge
from flowscope.ingest import service
from flowscope.ingest.formats import SUPPORTED, parse_body
from flowscope.ingest.schemas import IngestRejected, IngestResult, ProblemOut
from flowscope.metrics import EVENTS_ACCEPTED, EVENTS_DUPLICATE, EVENTS_REJECTED

router = APIRouter(tags=["ingest"])


async def read_body(request: Request, settings: SettingsDep) -> bytes:
    """The request body, refused with 413 as soon as it passes the configured limit."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event.provider": {"type": "string"},
        "event.type": {"type": "string"},
        "event.id": {"type": "string"},
        "timestamp": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
    },
    "additionalProperties": True,
}
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [_EVENT_SCHEMA, {"type": "array", "items": _EVENT_SCHEMA}]}
            },
            "application/cloudevents+json": {"schema": {"type": "object"}},
            "application/cloudevents-batch+json": {
                "schema": {"type": "array", "items": {"type": "object"}}
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/api/v2/bizevents/ingest",
    status_code=202,
    response_model=IngestResult,
    responses={
        400: {"model": IngestRejected, "description": "invalid events (valid ones are stored)"},
        401: {"description": "no or unknown API token"},
        403: {"description": "token lacks events:write"},
        413: {"description": "body too large"},
        415: {"description": f"content type not one of {', '.join(SUPPORTED)}"},
        503: {"description": "database unavailable; retry after Retry-After seconds"},
    },
    openapi_extra=_BODY_DOC,
    summary="Ingest business events",
)
def ingest(
    request: Request,
    body: Annotated[bytes, Depends(read_body)],
    session: SessionDep,
    settings: SettingsDep,
    _token: Annotated[object, Depends(RequireScope(Scope.events_write))],
    atomic: Annotated[
        bool, Query(description="all-or-nothing: one invalid event stores none")
    ] = False,
) -> Any:
    parsed = parse_body(
        request.headers.get("content-type"),
        request.headers,
        body,
        max_future_s=settings.max_future_seconds,
        max_depth=settings.max_json_depth,
        max_events=settings.max_events_per_request,
    )
    if parsed.problems and atomic:
        stored, duplicates = 0, 0
    else:
        stored, duplicates = service.store_events(session, parsed.events)
        # Acknowledge only what is committed: commit here, before the answer is built.
        session.commit()
    EVENTS_ACCEPTED.inc(stored)
    EVENTS_DUPLICATE.inc(duplicates)
    if parsed.problems:
        EVENTS_REJECTED.inc(parsed.total - stored - duplicates)
        rejected = IngestRejected(
            accepted=stored,
            duplicates=duplicates,
            rejected=parsed.total - stored - duplicates,
            errors=[ProblemOut(**p.as_dict()) for p in parsed.problems],
        )
        return JSONResponse(rejected.model_dump(), status_code=400)
    return IngestResult(accepted=stored, duplicates=duplicates)


@router.get(
    "/api/v1/events",
    name="latest_events",
    dependencies=[Depends(RequireScope(Scope.events_read, allow_user_role=Role.viewer))],
)
def get_latest_events(
    session: SessionDep,
    provider: Annotated[str | None, Query(max_length=256)] = None,
    type: Annotated[str | None, Query(max_length=256)] = None,  # noqa: A002 - the field's name
    since: Annotated[datetime | None, Query(description="event timestamps from (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The latest stored events, newest received first: does my app's data arrive?"""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # naive times are UTC, as everywhere in the API
    return {
        "events": service.latest_events(
            session, provider=provider, type_=type, since=since, limit=limit
        )
    }
