"""`POST /api/v2/bizevents/ingest`: Dynatrace-compatible business event ingest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.datastructures import Headers

from flowscope.auth.models import Role, Scope
from flowscope.auth.service import hash_token
from flowscope.db import Database
from flowscope.deadlines import within
from flowscope.deps import (
    RequireScope,
    SessionDep,
    bearer_secret,
    read_limited_body,
    recent_tokens,
    require_token_scope,
)
from flowscope.errors import ErrorResponse, ServiceUnavailable, Unauthorized
from flowscope.ingest import explorer, service
from flowscope.ingest.formats import SUPPORTED, parse_body
from flowscope.ingest.schemas import IngestRejected, IngestResult, LatestEvents, Parsed
from flowscope.ingest.writer import writer_for
from flowscope.metrics import EVENTS_ACCEPTED, EVENTS_DUPLICATE, EVENTS_REJECTED
from flowscope.offload import Full, ThreadSlots
from flowscope.params import Text
from flowscope.retention.rules import Rules, rules_cache
from flowscope.settings import Settings

router = APIRouter(tags=["ingest"])
T = TypeVar("T")

_SCOPE = Scope.events_write
_WRITE_SCOPES = (Scope.events_write.value, Scope.admin.value)
# Bodies up to this size are parsed on the event loop (a few hundred microseconds at most) and
# stored through the group writer; bigger ones are parsed and stored in the thread pool.
SMALL_BODY = 16 * 1024


# What validation.py accepts: names are strings (integers are read as their digits) of up to
# 256 characters; a timestamp is RFC 3339 (a time without offset is read as UTC) or epoch
# seconds, ms, µs or ns, so it is documented without the stricter `date-time` format.
_NAME: dict[str, Any] = {"type": ["string", "integer"], "minLength": 1, "maxLength": 256}
_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event.provider": _NAME,
        "event.type": _NAME,
        "event.id": {**_NAME, "type": ["string", "integer", "null"]},  # null: one is generated
        "timestamp": {
            "type": ["string", "number", "null"],
            "description": "RFC 3339 or epoch s, ms, µs or ns; missing or null: the receive time",
        },
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
        400: {
            "model": IngestRejected | ErrorResponse,
            "description": "invalid events (valid ones are stored), or a malformed request",
        },
        401: {"model": ErrorResponse, "description": "no or unknown API token"},
        403: {"model": ErrorResponse, "description": "token lacks events:write"},
        413: {"model": ErrorResponse, "description": "body too large"},
        415: {
            "model": ErrorResponse,
            "description": f"content type not one of {', '.join(SUPPORTED)}",
        },
        503: {
            "model": ErrorResponse,
            "description": "database unavailable; retry after Retry-After seconds",
        },
    },
    openapi_extra=_BODY_DOC,
    summary="Ingest business events",
)
async def ingest(
    request: Request,
    atomic: Annotated[
        bool, Query(description="all-or-nothing: one invalid event stores none")
    ] = False,
) -> Response:
    # The hot path avoids FastAPI's sync dependencies: each one costs a hop to the thread pool.
    # The token is checked from the headers before a byte of the body is read, so a client
    # without a valid token costs no memory however much it sends (a token seen lately is not
    # checked again here; the insert checks it anyway). The body is read on the event loop;
    # small bodies are parsed here too and stored by the group writer; everything else (big
    # batches) runs in one thread-pool hop, limited to the pool size so connections are never
    # churned. Every wait on the database has a deadline: a database that stops answering
    # gives 503 + Retry-After, not a request that hangs for the whole outage.
    app = request.app
    settings: Settings = app.state.settings
    secret = bearer_secret(request)
    if secret is None:
        raise Unauthorized("an API token is required: 'Authorization: Api-Token <token>'")
    token_hash = hash_token(secret)
    checked = not recent_tokens.recently_valid(token_hash, _SCOPE)
    if checked:
        await _off_loop(app, settings, partial(_check_token, app.state.db, token_hash))
    body = await read_limited_body(request, settings)
    deadline = _deadline(settings, len(body))
    if len(body) <= SMALL_BODY and recent_tokens.recently_valid(token_hash, _SCOPE):
        rules = rules_cache(app).current()
        parsed = _parse(request.headers, body, settings, rules)  # about 30 us for one event
        if parsed.events and not (parsed.problems and atomic):
            writer = writer_for(app, _WRITE_SCOPES)
            # A writer stuck on a hung database would only make requests queue up behind it;
            # they take the bounded thread path instead, which answers 503 in time (or stores
            # them, if the database has just come back).
            if writer.stuck_for() <= deadline:
                try:
                    with within(deadline):
                        result = await writer.store(token_hash, parsed.events)
                except TimeoutError:
                    raise _no_answer(deadline) from None
                if result is not None:
                    status, payload = _answer(parsed, *result)
                    return Response(payload, status_code=status, media_type="application/json")
                recent_tokens.forget(token_hash)  # no longer valid: the full path says why
    work = partial(
        _ingest_sync,
        app.state.db,
        settings,
        rules_cache(app).current(),
        token_hash,
        request.headers,
        body,
        atomic,
        checked,
    )
    status, payload = await _off_loop(app, settings, work, deadline)
    return Response(payload, status_code=status, media_type="application/json")


def _deadline(settings: Settings, body_bytes: int) -> float:
    """How long ingest waits for the database: `db_timeout_seconds`, and as much again per
    started MiB of body (a 5 MB batch legitimately takes seconds to store)."""
    return settings.db_timeout_seconds * (1 + body_bytes // (1024 * 1024))


def _no_answer(deadline: float) -> ServiceUnavailable:
    # The request may still be stored once the database answers: retrying is safe for events
    # with an event.id (stored once); the client cannot tell either way, as with any timeout.
    return ServiceUnavailable(f"the database did not answer within {deadline:g} s; retry shortly")


async def _off_loop(
    app: Any, settings: Settings, work: Callable[[], T], deadline: float | None = None
) -> T:
    """`work` in ingest's threads (as many as the pool has connections), given up after the
    deadline: a thread stuck on a hung database is abandoned and ends when it answers or the
    connection's TCP timeouts fire, still counting against the limit until then."""
    deadline = deadline or settings.db_timeout_seconds
    slots: ThreadSlots | None = getattr(app.state, "ingest_slots", None)
    if slots is None:
        size = settings.pool_size
        slots = app.state.ingest_slots = ThreadSlots(size, "ingest", backlog=10 * size)
    try:
        return await slots.run(work, deadline)
    except TimeoutError:
        raise _no_answer(deadline) from None
    except Full:
        raise ServiceUnavailable("too many requests wait for the database; retry shortly") from None


def _check_token(db: Database, token_hash: str) -> None:
    with service.autocommit_connection(db) as conn:
        require_token_scope(conn, token_hash, _SCOPE)  # 401 or 403
    recent_tokens.remember(token_hash, _SCOPE)


def _parse(headers: Headers, body: bytes, settings: Settings, rules: Rules | None) -> Parsed:
    return parse_body(
        headers.get("content-type"),
        headers,
        body,
        max_future_s=settings.max_future_seconds,
        max_depth=settings.max_json_depth,
        max_events=settings.max_events_per_request,
        retention=rules,
    )


def _ingest_sync(
    db: Database,
    settings: Settings,
    rules: Rules | None,
    token_hash: str,
    headers: Headers,
    body: bytes,
    atomic: bool,
    checked: bool,
) -> tuple[int, bytes]:
    parsed = _parse(headers, body, settings, rules)  # before a connection is taken
    if not parsed.events or (parsed.problems and atomic):
        if not checked:  # remembered, not checked for this request: revoked since?
            with service.autocommit_connection(db) as conn:
                require_token_scope(conn, token_hash, _SCOPE)
        return _answer(parsed, 0, 0)
    with service.autocommit_connection(db) as conn:
        # Committed when this returns: only then is the request acknowledged.
        result = service.store_events_for_token(conn, parsed.events, token_hash, _WRITE_SCOPES)
        if result is None:  # revoked since it was checked
            recent_tokens.forget(token_hash)
            require_token_scope(conn, token_hash, _SCOPE)  # says 401 or 403
            raise Unauthorized("the API token is unknown or revoked")
    stored, duplicates = result
    return _answer(parsed, stored, duplicates)


def _answer(parsed: Parsed, stored: int, duplicates: int) -> tuple[int, bytes]:
    EVENTS_ACCEPTED.inc(stored)
    EVENTS_DUPLICATE.inc(duplicates)
    if parsed.problems:
        rejected = parsed.total - stored - duplicates
        EVENTS_REJECTED.inc(rejected)
        errors = [p.as_dict() for p in parsed.problems]
        answer = {
            "accepted": stored,
            "duplicates": duplicates,
            "rejected": rejected,
            "errors": errors,
        }
        return 400, orjson.dumps(answer)
    return 202, orjson.dumps({"accepted": stored, "duplicates": duplicates})


@router.get(
    "/api/v1/events",
    name="latest_events",
    response_model=LatestEvents,
    dependencies=[Depends(RequireScope(Scope.events_read, allow_user_role=Role.viewer))],
)
def get_latest_events(
    session: SessionDep,
    provider: Annotated[Text | None, Query(max_length=256)] = None,
    type: Annotated[Text | None, Query(max_length=256)] = None,  # noqa: A002 - the field's name
    since: Annotated[datetime | None, Query(description="event timestamps from (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The latest stored events, newest timestamp first: does my app's data arrive?"""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # naive times are UTC, as everywhere in the API
    return {
        "events": explorer.latest_events(
            session, provider=provider, type_=type, since=since, limit=limit
        )
    }
