"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import secrets
from functools import partial
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from flowscope import metrics
from flowscope.db import Database
from flowscope.deps import SettingsDep
from flowscope.errors import Unauthorized
from flowscope.offload import Full, ThreadSlots
from flowscope.settings import Settings

router = APIRouter(tags=["operations"])


# Threads for readiness checks: while the database hangs, a stuck check holds its thread until
# the connection's TCP timeouts fire, and probes that keep coming must not pile up threads.
_READY_CHECKS = 2


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    reason: str | None = Field(
        default=None, description="when unavailable: the kind of error reaching the database"
    )


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _ping(db: Database) -> None:
    with db.ingest.connect() as conn:  # ingest's pool: ready means events can be stored
        conn.execute(text("select 1"))


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "the database does not answer"}},
    summary="The database answers",
)
async def readyz(request: Request) -> Response:
    """503 + Retry-After within `db_timeout_seconds` when the database does not answer, even
    when it hangs with its connections open (async, so that a hung check cannot hold up the
    thread pool the answer would need)."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    slots: ThreadSlots | None = getattr(request.app.state, "ready_slots", None)
    if slots is None:
        slots = request.app.state.ready_slots = ThreadSlots(_READY_CHECKS, "readyz", backlog=8)
    reason = None
    try:
        await slots.run(partial(_ping, db), settings.db_timeout_seconds)
    except (TimeoutError, Full):  # Full: earlier checks still wait for the database
        reason = "Timeout"
    except Exception as exc:  # any failure to reach the database means not ready
        reason = type(exc).__name__
    if reason is not None:
        retry = str(max(1, round(settings.db_timeout_seconds)))
        body = {"status": "unavailable", "reason": reason}
        return JSONResponse(body, 503, headers={"Retry-After": retry})
    return JSONResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def prometheus(request: Request, settings: SettingsDep) -> Response:
    if settings.metrics_token:  # request paths and volumes are not for everyone to read
        sent = request.headers.get("authorization", "").partition(" ")[2].strip()
        if not secrets.compare_digest(sent.encode(), settings.metrics_token.encode()):
            raise Unauthorized("/metrics needs 'Authorization: Bearer <FLOWSCOPE_METRICS_TOKEN>'")
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
