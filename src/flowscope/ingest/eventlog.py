"""Importing history: event logs (XES, gzipped XES, CSV) streamed into the event store.

Mapping (the same for both formats; a XES trace attribute `k` is the column `case:k` of the CSV
form that process-mining tools use):
- the case field (default `case:concept:name`) → attribute `case.id` (the correlation id to use
  for discovery and flows), the other `case:*` fields → `case.<name>`;
- the activity field (default `concept:name`) → `event.type`;
- the timestamp field (default `time:timestamp`) → `timestamp`;
- every other field → an attribute under its own name (`org:resource`, `lifecycle:transition`…);
  names that Flowscope reserves (`timestamp`, `event`, `event.*`, `case`) get a `log:` prefix.
XES values keep their types (int, float, boolean; dates as text; lists and containers nested);
CSV values are text, except integers and decimals written plainly, which become numbers; empty
CSV cells are left out.

Each event gets the id `<case id>:<n>`, n counting the case's events in file order from 0, so
importing a log again stores nothing twice (and a log that grew stores only the new events).
Events go through the same validation as the ingest API, in file order, in batches.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

from lxml import etree
from sqlalchemy.orm import Session

from flowscope.ingest.logreaders import (
    MAX_PENDING_EVENTS,
    MAX_XES_DEPTH,
    LogError,
    Row,
    read_csv,
    read_xes,
)
from flowscope.ingest.logwriter import BatchWriter, ImportResult
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.validation import MAX_NAME_LENGTH, Invalid, Limits, from_fields

# For `flowscope import-log --help`: the mapping above, in paragraphs the terminal can wrap.
MAPPING_HELP = "\n\n".join(
    [
        "Mapping: the case field → attribute case.id (the correlation id: discover with "
        "--correlation case.id); other case:* fields (XES trace attributes) → case.<name>; "
        "the activity → event.type; the timestamp → timestamp; every other field → an "
        "attribute under its own name (timestamp, event, event.* and case get a log: prefix).",
        "XES values keep their types; CSV integers and plain decimals become numbers, empty "
        "cells are left out. Gzip is detected by itself.",
        "Event ids are <case id>:<n> (n counts the case's events in file order), so importing "
        "again stores nothing twice. Events are validated as by the ingest API and stored in "
        "file order, one commit per batch.",
    ]
)
BATCH_SIZE = 5_000
MAX_PROBLEMS = 20
CASE_KEY = "case"
_RESERVED = frozenset({"timestamp", "event", CASE_KEY})


@dataclass(frozen=True, slots=True)
class LogFields:
    case: str = "case:concept:name"
    activity: str = "concept:name"
    timestamp: str = "time:timestamp"


# ---------------------------------------------------------------------------------------------
# mapping and storing


def event_id(case_id: str, n: int) -> str:
    """Deterministic, readable id; hashed only when it would pass the length limit."""
    plain = f"{case_id}:{n}"
    if len(plain) <= MAX_NAME_LENGTH:
        return plain
    return f"sha256:{hashlib.sha256(plain.encode()).hexdigest()}"


# Where a log field goes (see the module docstring), decided once per field name.
_ACTIVITY, _TIMESTAMP, _CASE_FIELD, _CASE_ATTRIBUTE, _RENAMED, _KEPT = range(6)


def _route(key: str, fields: LogFields) -> tuple[int, str]:
    if key == fields.activity:
        return _ACTIVITY, key
    if key == fields.timestamp:
        return _TIMESTAMP, key
    if key == fields.case:
        return _CASE_FIELD, key
    if key.startswith("case:") and key[5:] != "id":  # `id` is the case id's own
        return _CASE_ATTRIBUTE, key[5:]
    if key in _RESERVED or key.startswith("event.") or key.startswith("case:"):
        return _RENAMED, f"log:{key}"
    return _KEPT, key


def _to_event(
    row: Row,
    provider: str,
    fields: LogFields,
    case_id: str,
    n: int,
    limits: Limits,
    routes: dict[str, tuple[int, str]],
) -> NewEvent:
    """The row as the ingest API would store it, were it sent as a JSON object with the log's
    fields mapped (module docstring): the same checks apply (`from_fields`), without building
    that object first. `routes` caches `_route` per field name across rows."""
    case: dict[str, Any] = {"id": case_id}
    attrs: dict[str, Any] = {}
    activity = timestamp = None
    for key, value in row.fields.items():
        route = routes.get(key)
        if route is None:
            route = routes[key] = _route(key, fields)
        where, name = route
        if where >= _RENAMED:
            attrs[name] = value
        elif where == _CASE_ATTRIBUTE:
            case[name] = value
        elif where == _ACTIVITY:
            activity = value
        elif where == _TIMESTAMP:
            timestamp = value
    attrs[CASE_KEY] = case
    return from_fields(provider, activity, event_id(case_id, n), timestamp, attrs, limits)


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(stream to parse, raw file for progress); gzip is detected by content, not name."""
    raw: IO[bytes] = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw)), raw
    raw.seek(0)
    return raw, raw


def log_format(path: Path) -> str:
    """`xes` or `csv`, from the file name; a missing file or another kind is a `LogError`."""
    if not path.is_file():
        raise LogError(f"{path}: no such file")
    name = path.name.lower()
    for suffix, kind in ((".xes.gz", "xes"), (".xes", "xes"), (".csv.gz", "csv"), (".csv", "csv")):
        if name.endswith(suffix):
            return kind
    raise LogError(f"{path.name}: unknown log format; use a .xes, .xes.gz or .csv file")


def import_event_log(
    session: Session,
    path: Path,
    provider: str,
    fields: LogFields = LogFields(),  # noqa: B008 - frozen dataclass, never mutated
    *,
    batch_size: int = BATCH_SIZE,
    max_future: timedelta = timedelta(minutes=10),
    max_depth: int = 32,
    jobs: int = 1,
    on_batch: Callable[[int, ImportResult], None] | None = None,
) -> ImportResult:
    """Store the log's events for `provider`, in file order; returns what was stored.

    Never commits: `on_batch(bytes_read, result)` runs after each batch and may commit, so an
    interrupted import keeps its batches and a re-run skips them. With `jobs=2` the batches
    are stored by a second thread while the next one is read (`on_batch` then runs there; the
    session is only used by that thread until this returns).
    """
    kind = log_format(path)
    # libxml2 refuses NUL and lone surrogates in XML, so only CSV text needs the string check.
    limits = Limits(
        now=datetime.now(UTC),
        max_future=max_future,
        max_depth=max_depth,
        check_strings=kind == "csv",
    )
    result = ImportResult()
    seen: dict[str, int] = {}
    routes: dict[str, tuple[int, str]] = {}
    batch: list[NewEvent] = []
    stream, raw = _open(path)
    writer = BatchWriter(session, result, on_batch, background=jobs > 1)
    try:
        rows = read_xes(stream) if kind == "xes" else read_csv(stream)
        for row in _guard(rows, path):
            result.read += 1
            case_value = row.fields.get(fields.case)
            if case_value is None or isinstance(case_value, (dict, list)):
                _reject(result, row.where, fields.case, "the case id is missing")
                continue
            case_id = str(case_value)
            n = seen.get(case_id, 0)
            seen[case_id] = n + 1
            try:
                # The API takes a missing time as "now"; in a log of history that is an error.
                if row.fields.get(fields.timestamp) is None:
                    raise Invalid(fields.timestamp, "is required in an imported log")
                if row.fields.get(fields.activity) is None:
                    raise Invalid(fields.activity, "is required (it becomes event.type)")
                batch.append(_to_event(row, provider, fields, case_id, n, limits, routes))
            except Invalid as exc:
                _reject(result, row.where, exc.field, exc.message)
                continue
            if len(batch) >= batch_size:
                writer.put(batch, raw.tell())
                batch = []
        writer.put(batch, raw.tell())
        writer.close()
    finally:
        writer.abandon()
        stream.close()
        raw.close()
    return result


__all__ = [
    "MAX_PENDING_EVENTS",
    "MAX_XES_DEPTH",
    "ImportResult",
    "LogError",
    "LogFields",
    "event_id",
    "import_event_log",
    "log_format",
    "read_csv",
    "read_xes",
]


def _reject(result: ImportResult, where: str, field_name: str, message: str) -> None:
    result.rejected += 1
    if len(result.problems) < MAX_PROBLEMS:
        result.problems.append(f"{where}: {field_name}: {message}")


def _guard(rows: Iterator[Row], path: Path) -> Iterator[Row]:
    """Parse errors become one clear `LogError` naming the file and the position."""
    try:
        yield from rows
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise LogError(f"{path.name}: cannot read the log: {exc}") from None
    except etree.XMLSyntaxError as exc:
        raise LogError(f"{path.name}: not a valid XES file: {exc}") from None
