"""CSV export of a drill-down: every unique flow of the current filter, streamed.

The rows come from `drilldown.list_instances`, the service of the table and of the JSON route,
paged by its keyset cursor in a session of its own (the request's session is closed before a
streamed body is sent). Every page reads the build the request resolved, so an export never
mixes the rows of two builds when a rebuild becomes ready half-way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from flowscope.db import Database
from flowscope.flows.analysis import drilldown
from flowscope.flows.analysis.context import FlowContext
from flowscope.flows.analysis.drilldown import InstanceFilter

HEADER = [
    "correlation_id",
    "state",
    "has_exception",
    "exception_step",
    "exception_name",
    "current_step",
    "started_at",
    "last_event_at",
    "completed_at",
    "duration_s",
    "event_count",
    "revenue",
]
PAGE = 500


def _cell(value: Any) -> Any:
    """Spreadsheets run cells that start with = + - @ as formulas: a correlation id or a
    property sent by an app must stay text (OWASP "CSV injection")."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value


def csv_rows(
    db: Database,
    flow: FlowContext,
    filters: InstanceFilter,
    properties: list[str],
    now: datetime,
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(HEADER + [f"property:{name}" for name in properties])
    yield flush()
    cursor: str | None = None
    with db.sessions() as session:
        while True:
            page = drilldown.list_instances(
                session, flow, filters, limit=PAGE, cursor=cursor, now=now
            )
            for item in page.items:
                row = [getattr(item, name) for name in HEADER]
                for n, value in enumerate(row):
                    if hasattr(value, "isoformat"):
                        row[n] = value.isoformat()
                props = item.properties or {}
                writer.writerow([_cell(v) for v in row] + [_cell(props.get(p)) for p in properties])
            yield flush()
            cursor = page.next_cursor
            if cursor is None:
                break
