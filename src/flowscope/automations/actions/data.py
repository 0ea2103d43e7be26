"""Actions on Flowscope's own data: run an FQL query, ingest one business event. Both run in
the dispatcher's transaction, so an ingested event commits with the step that records it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.automations.actions.base import Context, Outcome, failed
from flowscope.automations.templating import TemplateFailed, render
from flowscope.ingest.service import store_events
from flowscope.ingest.validation import Invalid, Limits, from_json_object
from flowscope.query.errors import QueryError
from flowscope.query.service import run_query


def run_fql(ctx: Context, action: dict[str, Any]) -> Outcome:
    try:
        query = render("query", action["query"], ctx.data)
    except TemplateFailed as exc:
        return failed({"query": action["query"]}, str(exc))
    request = {"query": query, "from": action["time_from"], "max_rows": action["max_rows"]}
    try:
        result = run_query(
            ctx.session,
            query,
            time_from=action["time_from"],
            timeout_s=ctx.settings.query_timeout_seconds,
            row_cap=action["max_rows"],
        )
    except QueryError as exc:
        return failed(request, f"query: {exc}")
    body = result.as_dict()
    passed = json.loads(
        json.dumps(
            {
                "columns": [c["name"] for c in body["columns"]],
                "rows": body["rows"],
                "row_count": body["row_count"],
                "truncated": body["truncated"],
            },
            default=str,
        )
    )
    return Outcome(
        ok=True,
        request=request,
        excerpt=f"{result.row_count} rows" + (" (truncated)" if result.truncated else ""),
        result=passed,
    )


def run_ingest(ctx: Context, action: dict[str, Any]) -> Outcome:
    try:
        text = render("event", action["event"], ctx.data)
    except TemplateFailed as exc:
        return failed({"event": action["event"]}, str(exc))
    request = {"event": text}
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return failed(request, f"event: not JSON after rendering: {exc}")
    if isinstance(obj, dict) and "event.id" not in obj and "id" not in obj.get("event", {}):
        obj["event.id"] = ctx.idempotency_key  # a resend stores nothing twice
    settings = ctx.settings
    limits = Limits(
        datetime.now(UTC),
        timedelta(seconds=settings.max_future_seconds),
        settings.max_json_depth,
        True,
    )
    try:
        event = from_json_object(obj, limits)
    except Invalid as exc:
        return failed(request, f"event.{exc.field}: {exc.message}" if exc.field else exc.message)
    with ctx.session.begin_nested():  # a failed insert leaves the step's transaction usable
        stored, duplicates = store_events(ctx.session, [event])
    return Outcome(
        ok=True,
        request=request,
        excerpt=f"stored {stored}, duplicates {duplicates}",
        result={"event.id": event.event_id, "stored": stored},
    )
