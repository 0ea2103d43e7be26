"""Prometheus metrics and the middleware that times every request by its route template."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVENTS_ACCEPTED = Counter("flowscope_events_accepted_total", "Events stored by ingest")
EVENTS_DUPLICATE = Counter(
    "flowscope_events_duplicate_total", "Events skipped because their event.id was already stored"
)
EVENTS_REJECTED = Counter("flowscope_events_rejected_total", "Events refused as invalid")
RETENTION_DELETED = Counter(
    "flowscope_retention_deleted_rows_total",
    "Rows deleted by retention: events, and memberships and flow rows derived from them",
    ["table"],
)
REQUEST_SECONDS = Histogram(
    "flowscope_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Correlation lag (defined in flowscope.flows.correlation.lag, which sets them).
CORRELATION_DELAY = Histogram(
    "flowscope_correlation_delay_seconds",
    "Per correlator run: from the previous run's snapshot to this run's commit (the longest an "
    "event it correlated can have waited since its commit)",
    buckets=(0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300),
)
CORRELATION_LAG = Gauge(
    "flowscope_correlation_lag_seconds",
    "Seconds since the snapshot of the last committed correlator run: events committed before "
    "it are in the results (NaN until this process has run the correlator)",
)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it sits on the ingest hot path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - start
            )
