"""`POST /api/v2/bizevents/ingest`: Dynatrace-compatible business event ingest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Annotated, Any

import anyio
import orjson
import psycopg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import Headers

from flowscope.auth.models import Scope
from flowscope.auth.service import hash_token
from flowscope.db import Database
from flowscope.deps import bearer_secret, recent_tokens, require_token_scope
from flowscope.errors import PayloadTooLarge, Unauthorized
from flowscope.ingest import service
from flowscope.ingest.formats import SUPPORTED, parse_body
from flowscope.ingest.schemas import IngestRejected, IngestResult
from flowscope.metrics import EVENTS_ACCEPTED, EVENTS_DUPLICATE, EVENTS_REJECTED
from flowscope.settings import Settings

router = APIRouter(tags=["ingest"])


async def read_body(request: Request, settings: Settings) -> bytes:
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
async def ingest(
    request: Request,
    atomic: Annotated[
        bool, Query(description="all-or-nothing: one invalid event stores none")
    ] = False,
) -> Response:
    # The hot path avoids FastAPI's sync dependencies: each one costs a hop to the thread pool.
    # Here the body is read on the event loop and all blocking work (token, parsing, storing,
    # commit) happens in one hop, limited to the pool size so connections are never churned.
    app = request.app
    settings: Settings = app.state.settings
    secret = bearer_secret(request)
    if secret is None:
        raise Unauthorized("an API token is required: 'Authorization: Api-Token <token>'")
    body = await read_body(request, settings)
    work = partial(_ingest_sync, app.state.db, settings, secret, request.headers, body, atomic)
    status, payload = await anyio.to_thread.run_sync(work, limiter=_limiter(app, settings))
    return Response(payload, status_code=status, media_type="application/json")


def _limiter(app: Any, settings: Settings) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(app.state, "ingest_limiter", None)
    if limiter is None:
        limiter = app.state.ingest_limiter = anyio.CapacityLimiter(settings.pool_size)
    return limiter


@contextmanager
def _connection(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in autocommit, for the duration of one ingest request.

    Every request writes with one statement (the token check travels inside the insert), so in
    autocommit that statement's commit happens, and with synchronous_commit on is flushed,
    before its answer comes back: no BEGIN and COMMIT round trips. The pool is the app's own
    (pre-ping included); a session around it cost ~90 us of CPU per request, as much as the
    insert's own Python work (bench/README.md).
    """
    fairy = db.engine.raw_connection()
    conn = fairy.driver_connection
    assert isinstance(conn, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    try:
        conn.autocommit = True
        yield conn
    finally:
        try:
            conn.autocommit = False  # the pool's other users expect transactions
        except psycopg.Error:
            fairy.invalidate()  # broken (e.g. the server went away): never hand it out again
        fairy.close()


def _ingest_sync(
    db: Database,
    settings: Settings,
    secret: str,
    headers: Headers,
    body: bytes,
    atomic: bool,
) -> tuple[int, bytes]:
    scope = Scope.events_write
    token_hash = hash_token(secret)
    with _connection(db) as conn:
        # A token not seen lately is checked before the body is parsed, so unknown tokens cost
        # no parsing; the insert checks it again either way.
        checked = not recent_tokens.recently_valid(token_hash, scope)
        if checked:
            require_token_scope(conn, token_hash, scope)
            recent_tokens.remember(token_hash, scope)
        parsed = parse_body(
            headers.get("content-type"),
            headers,
            body,
            max_future_s=settings.max_future_seconds,
            max_depth=settings.max_json_depth,
            max_events=settings.max_events_per_request,
        )
        if parsed.events and not (parsed.problems and atomic):
            # Committed when this returns: only then is the request acknowledged.
            result = service.store_events_for_token(
                conn, parsed.events, token_hash, (scope.value, Scope.admin.value)
            )
            if result is None:
                recent_tokens.forget(token_hash)
                require_token_scope(conn, token_hash, scope)  # says 401 or 403
                raise Unauthorized("the API token is unknown or revoked")
            stored, duplicates = result
        else:
            if not checked:
                require_token_scope(conn, token_hash, scope)
            stored, duplicates = 0, 0
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
