"""Reading event logs row by row: XES (libxml2 through lxml, streamed) and CSV.

Both readers give out one `Row` per event, with flat fields (a XES trace attribute `k` becomes
the field `case:k`, as in the CSV form), and hold at most a bounded part of the file in memory.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from lxml import etree

from flowscope.errors import FlowscopeError


class LogError(FlowscopeError):
    code = "invalid_log"


@dataclass(slots=True)
class Row:
    """One event as read from the file: flat fields, `case:*` ones included, and where it was."""

    fields: dict[str, Any]
    where: str


# XES nests log > trace > event > attribute; attributes nest lists and containers. Deeper
# than this is no log (libxml2 itself stops at 256 levels).
MAX_XES_DEPTH = 64
# A trace's events wait for the trace's own attributes (case:*, which XES writes before the
# events, but some tools after them) up to this many; a longer trace streams with the
# attributes read so far, so memory stays flat however long a trace is.
MAX_PENDING_EVENTS = 1_000
_EVENT_DEPTH = 3  # log > trace > event

_local_names: dict[str, str] = {}


def _local(tag: Any) -> str:
    """`{namespace}name` → `name`; comments and processing instructions → ''."""
    if not isinstance(tag, str):
        return ""
    name = _local_names.get(tag)
    if name is None:
        name = _local_names[tag] = tag.rsplit("}", 1)[-1]
    return name


_TEXT_KINDS = frozenset({"string", "date", "id"})  # values kept as written


class _TooDeep(Exception):
    pass


def _xes_value(elem: Any, depth: int) -> Any:
    if depth > MAX_XES_DEPTH:
        raise _TooDeep
    kind = _local(elem.tag)
    raw = elem.get("value")
    if kind == "list":
        values = next((c for c in elem if _local(c.tag) == "values"), None)
        return [] if values is None else [_xes_value(c, depth + 2) for c in values]
    children = [c for c in elem if c.get("key") is not None or _local(c.tag) == "values"]
    if kind == "container":
        return {c.get("key"): _xes_value(c, depth + 1) for c in children}
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
        return {"value": value, **{c.get("key"): _xes_value(c, depth + 1) for c in children}}
    return value


def _xes_attributes(elem: Any, depth: int) -> dict[str, Any]:
    """The keyed children of `elem` (at `depth` in the document) as `{key: value}`."""
    out: dict[str, Any] = {}
    names, text_kinds = _local_names, _TEXT_KINDS
    for child in elem:
        key = child.get("key")
        if key is None:
            continue
        tag = child.tag
        # The common case without a call: a known text tag (lxml's comment, entity and PI
        # "tags" are functions, never in the cache) and no child elements.
        if names.get(tag) in text_kinds and not len(child):
            out[key] = child.get("value")
        elif _local(tag) not in ("event", "trace"):
            out[key] = _xes_value(child, depth + 1)
    return out


def _trace_attributes(trace: Any, before: Any = None) -> dict[str, Any]:
    """The trace's attributes parsed so far, as `case:*` fields; only those before `before`:
    the parser may have read further than the event being handled."""
    out: dict[str, Any] = {}
    for child in trace:
        if child is before:
            break
        key = child.get("key")
        if key is not None and _local(child.tag) not in ("event", "trace"):
            out[f"case:{key}"] = _xes_value(child, _EVENT_DEPTH)
    return out


def _trace_of(event: Any) -> Any:
    parent = event.getparent()
    if parent is not None and _local(parent.tag) == "trace":
        return parent
    return next((a for a in event.iterancestors() if _local(a.tag) == "trace"), None)


def read_xes(stream: IO[bytes]) -> Iterator[Row]:
    """Stream a XES log event by event, dropping each element once read so memory stays flat.

    Only the ends of events and traces come back to Python; the rest stays in libxml2. Every
    event is removed from the tree once turned into a row, every trace at its end. Entities are
    never expanded, nothing is fetched from the network, and a document type is refused (an
    event log has none; it is how entity bombs come in).
    """
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=("{*}event", "{*}trace"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    trace_no = loose = streamed = 0
    pending: list[dict[str, Any]] = []  # the current trace's events, waiting for its attributes
    checked = False

    def flush(case: dict[str, Any]) -> Iterator[Row]:
        nonlocal streamed
        for attrs in pending:
            streamed += 1
            yield Row({**case, **attrs}, f"trace {trace_no + 1} event {streamed}")
        pending.clear()

    try:
        for _, elem in context:
            if not checked:
                _refuse_doctype(elem)
                checked = True
            parent = elem.getparent()
            if _local(elem.tag) == "event":
                trace = parent if parent is not None and _local(parent.tag) == "trace" else None
                if trace is None:
                    trace = _trace_of(elem)
                attrs = _xes_attributes(elem, _EVENT_DEPTH)
                if trace is None:  # usable when --case-field names one of its attributes
                    loose += 1
                    yield Row(attrs, f"event {loose} outside a trace")
                else:
                    pending.append(attrs)
                    if len(pending) >= MAX_PENDING_EVENTS:
                        yield from flush(_trace_attributes(trace, before=elem))
            else:
                yield from flush(_trace_attributes(elem))
                trace_no += 1
                streamed = 0
            elem.clear()
            if parent is not None:
                parent.remove(elem)
        if context.root is not None:
            _refuse_doctype(context.root)
    except _TooDeep:
        raise _too_deep(trace_no) from None
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc):
            raise _too_deep(trace_no) from None
        raise


def _too_deep(trace_no: int) -> LogError:
    return LogError(
        f"elements are nested deeper than {MAX_XES_DEPTH} levels "
        f"(in trace {trace_no + 1}); this is not an event log"
    )


def _refuse_doctype(elem: Any) -> None:
    info = elem.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None or info.doctype:
        raise LogError("not a valid XES file: a document type (DTD) is not allowed in a log")


_INT = re.compile(r"0|-?[1-9]\d{0,17}")  # written as Python would print it back
_DECIMAL = re.compile(r"-?(?:0|[1-9]\d*)\.\d+")


def _csv_value(text: str) -> Any:
    if _INT.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text


def read_csv(stream: IO[bytes]) -> Iterator[Row]:
    decoded = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(decoded)
    try:
        for row in reader:
            fields = {
                k: _csv_value(v) for k, v in row.items() if k is not None and v not in ("", None)
            }
            yield Row(fields, f"line {reader.line_num}")
    finally:
        decoded.detach()  # the caller owns the file (and reads its position for progress)
