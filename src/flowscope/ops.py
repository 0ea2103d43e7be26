"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from flowscope import metrics
from flowscope.deps import DatabaseDep, SettingsDep
from flowscope.errors import Unauthorized

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers")
def readyz(db: DatabaseDep) -> Response:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any failure to reach the database means not ready
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def prometheus(request: Request, settings: SettingsDep) -> Response:
    if settings.metrics_token:  # request paths and volumes are not for everyone to read
        sent = request.headers.get("authorization", "").partition(" ")[2].strip()
        if not secrets.compare_digest(sent.encode(), settings.metrics_token.encode()):
            raise Unauthorized("/metrics needs 'Authorization: Bearer <FLOWSCOPE_METRICS_TOKEN>'")
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
