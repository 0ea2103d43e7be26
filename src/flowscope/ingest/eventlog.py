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
import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

from defusedxml.ElementTree import iterparse
from sqlalchemy.orm import Session

from flowscope.errors import FlowscopeError
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.ingest.validation import MAX_NAME_LENGTH, Invalid, Limits, from_json_object

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
_INT = re.compile(r"0|-?[1-9]\d{0,17}")  # written as Python would print it back
_DECIMAL = re.compile(r"-?(?:0|[1-9]\d*)\.\d+")


class LogError(FlowscopeError):
    code = "invalid_log"


@dataclass(frozen=True, slots=True)
class LogFields:
    case: str = "case:concept:name"
    activity: str = "concept:name"
    timestamp: str = "time:timestamp"


@dataclass(slots=True)
class ImportResult:
    read: int = 0
    stored: int = 0
    present: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Row:
    """One event as read from the file: flat fields, `case:*` ones included, and where it was."""

    fields: dict[str, Any]
    where: str


# ---------------------------------------------------------------------------------------------
# readers


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xes_value(elem: Any) -> Any:
    kind = _local(elem.tag)
    raw = elem.get("value")
    children = [c for c in elem if c.get("key") is not None or _local(c.tag) == "values"]
    if kind == "list":
        values = next((c for c in elem if _local(c.tag) == "values"), None)
        return [_xes_value(c) for c in values] if values is not None else []
    if kind == "container":
        return {c.get("key"): _xes_value(c) for c in children}
    value: Any = raw
    if kind == "int":
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = raw
    elif kind == "float":
        try:
            number = float(raw)
            value = number if math.isfinite(number) else raw
        except (TypeError, ValueError):
            value = raw
    elif kind == "boolean":
        value = str(raw).strip().lower() == "true"
    if children:  # meta-attributes of an attribute
        return {"value": value, **{c.get("key"): _xes_value(c) for c in children}}
    return value


def _xes_attributes(elem: Any) -> dict[str, Any]:
    return {
        c.get("key"): _xes_value(c)
        for c in elem
        if c.get("key") is not None and _local(c.tag) not in ("event", "trace")
    }


# XES nests log > trace > event > attribute; attributes nest lists and containers. Deeper
# than this is no log (the recursive reading of values would end in a RecursionError).
MAX_XES_DEPTH = 64
# A trace's events wait for the trace's own attributes (case:*, which XES writes before the
# events, but some tools after them) up to this many; a longer trace streams with the
# attributes read so far, so memory stays flat however long a trace is.
MAX_PENDING_EVENTS = 1_000


def read_xes(stream: IO[bytes]) -> Iterator[_Row]:
    """Stream a XES log event by event, dropping each element once read so memory stays flat.

    A parsed element stays in its parent until removed: every event, trace attribute and
    trace is taken out of the tree as soon as it has been turned into a row or a value.
    """
    path: list[Any] = []  # the open elements, root first
    trace_no = loose = 0
    case: dict[str, Any] = {}
    pending: list[dict[str, Any]] = []
    streamed = 0  # events of the current trace already given out

    def flush() -> Iterator[_Row]:
        nonlocal streamed
        for attrs in pending:
            streamed += 1
            yield _Row({**case, **attrs}, f"trace {trace_no + 1} event {streamed}")
        pending.clear()

    for kind, elem in iterparse(stream, events=("start", "end")):
        if kind == "start":
            path.append(elem)
            if len(path) > MAX_XES_DEPTH:
                raise LogError(
                    f"elements are nested deeper than {MAX_XES_DEPTH} levels "
                    f"(in trace {trace_no + 1}); this is not an event log"
                )
            continue
        path.pop()
        parent = path[-1] if path else None
        tag = _local(elem.tag)
        in_trace = len(path) >= 2 and _local(path[1].tag) == "trace"
        if tag == "event" and not in_trace:
            # An event outside any trace: usable when --case-field names one of its attributes.
            loose += 1
            yield _Row(_xes_attributes(elem), f"event {loose} outside a trace")
        elif tag == "event":
            pending.append(_xes_attributes(elem))
            if len(pending) >= MAX_PENDING_EVENTS:
                yield from flush()
        elif tag == "trace":
            yield from flush()
            trace_no += 1
            case, streamed = {}, 0
        elif len(path) == 2 and _local(path[1].tag) == "trace" and elem.get("key") is not None:
            case[f"case:{elem.get('key')}"] = _xes_value(elem)  # a trace attribute
        else:
            continue  # inside an attribute or an event: read with its owner
        if parent is not None:
            parent.remove(elem)


def _csv_value(text: str) -> Any:
    if _INT.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text


def read_csv(stream: IO[bytes]) -> Iterator[_Row]:
    decoded = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(decoded)
    try:
        for row in reader:
            fields = {
                k: _csv_value(v) for k, v in row.items() if k is not None and v not in ("", None)
            }
            yield _Row(fields, f"line {reader.line_num}")
    finally:
        decoded.detach()  # the caller owns the file (and reads its position for progress)


# ---------------------------------------------------------------------------------------------
# mapping and storing


def event_id(case_id: str, n: int) -> str:
    """Deterministic, readable id; hashed only when it would pass the length limit."""
    plain = f"{case_id}:{n}"
    if len(plain) <= MAX_NAME_LENGTH:
        return plain
    return f"sha256:{hashlib.sha256(plain.encode()).hexdigest()}"


def _to_object(row: _Row, provider: str, fields: LogFields, case_id: str, n: int) -> dict[str, Any]:
    """The row as an ingest API JSON object, so the API's validation applies unchanged."""
    values = dict(row.fields)
    activity = values.pop(fields.activity, None)
    timestamp = values.pop(fields.timestamp, None)
    values.pop(fields.case, None)
    case: dict[str, Any] = {"id": case_id}
    obj: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith("case:") and key[5:] not in case:
            case[key[5:]] = value
        elif key in _RESERVED or key.startswith("event.") or key.startswith("case:"):
            obj[f"log:{key}"] = value
        else:
            obj[key] = value
    obj[CASE_KEY] = case
    obj["event.provider"] = provider
    obj["event.type"] = activity
    obj["event.id"] = event_id(case_id, n)
    obj["timestamp"] = timestamp
    return obj


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
    on_batch: Callable[[int, ImportResult], None] | None = None,
) -> ImportResult:
    """Store the log's events for `provider`, in file order; returns what was stored.

    Never commits: `on_batch(bytes_read, result)` runs after each batch and may commit, so an
    interrupted import keeps its batches and a re-run skips them.
    """
    kind = log_format(path)
    limits = Limits(
        now=datetime.now(UTC), max_future=max_future, max_depth=max_depth, check_strings=True
    )
    result = ImportResult()
    seen: dict[str, int] = {}
    batch: list[NewEvent] = []
    stream, raw = _open(path)

    def flush() -> None:
        stored, present = store_events(session, batch)
        result.stored += stored
        result.present += present
        batch.clear()
        if on_batch is not None:
            on_batch(raw.tell(), result)

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
                obj = _to_object(row, provider, fields, case_id, n)
                batch.append(from_json_object(obj, limits))
            except Invalid as exc:
                _reject(result, row.where, exc.field, exc.message)
                continue
            if len(batch) >= batch_size:
                flush()
        flush()
    finally:
        stream.close()
        raw.close()
    return result


def _reject(result: ImportResult, where: str, field_name: str, message: str) -> None:
    result.rejected += 1
    if len(result.problems) < MAX_PROBLEMS:
        result.problems.append(f"{where}: {field_name}: {message}")


def _guard(rows: Iterator[_Row], path: Path) -> Iterator[_Row]:
    """Parse errors become one clear `LogError` naming the file and the position."""
    try:
        yield from rows
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise LogError(f"{path.name}: cannot read the log: {exc}") from None
    except Exception as exc:  # defusedxml and expat raise their own classes
        if type(exc).__module__.startswith(("xml.", "defusedxml")):
            raise LogError(f"{path.name}: not a valid XES file: {exc}") from None
        raise
