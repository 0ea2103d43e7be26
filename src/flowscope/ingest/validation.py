"""Turning one decoded JSON object (plain or CloudEvent) into a `NewEvent`, or naming what's wrong.

Rules: `event.provider` and `event.type` are required strings; `event.id` is optional (a UUID is
generated); `timestamp` is RFC 3339 or epoch seconds/ms/µs/ns, missing means the receive time,
and more than `max_future` ahead, or older than the provider's retention, is refused. Every
other key is an attribute, nesting kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.ingest.schemas import NewEvent

MAX_NAME_LENGTH = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True, frozen=True)
class Limits:
    now: datetime
    max_future: timedelta
    max_depth: int
    check_strings: bool  # False when the body cannot contain NUL or lone surrogates
    # Why an event of (provider, timestamp) is past its provider's retention, or None
    # (`flowscope.retention.rules.Rules.refusal`); None: no age limit.
    too_old: Callable[[str, datetime], str | None] | None = None


class Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _name(value: Any, field: str) -> str:
    if value is None:
        raise Invalid(field, "is required")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Invalid(field, f"must be a string, not {_json_type(value)}")
    text = str(value)
    if not text.strip():
        raise Invalid(field, "must not be empty")
    if len(text) > MAX_NAME_LENGTH:
        raise Invalid(field, f"must be at most {MAX_NAME_LENGTH} characters")
    return text


def _optional_name(value: Any, field: str) -> str | None:
    return None if value is None else _name(value, field)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def parse_timestamp(value: Any, field: str, limits: Limits) -> datetime:
    if value is None:
        return limits.now
    if isinstance(value, bool):
        raise Invalid(field, "must be an RFC 3339 string or epoch number, not a boolean")
    if isinstance(value, (int, float)):
        ts = _from_epoch(value, field)
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(
                field, f"{value[:40]!r} is not an RFC 3339 time such as 2026-11-23T10:15:00Z"
            ) from None
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)  # documented: a time without offset is UTC
        elif ts.year == 1:
            # 0001-01-01T00:00+14:00 is a year-0 instant: PostgreSQL stores it, but Python (and
            # so every later read) cannot represent it.
            try:
                ts.astimezone(UTC)
            except OverflowError:
                raise Invalid(
                    field, f"{value[:40]!r} is outside the supported time range"
                ) from None
    else:
        raise Invalid(field, f"must be an RFC 3339 string or epoch number, not {_json_type(value)}")
    if ts - limits.now > limits.max_future:
        ahead = int((ts - limits.now).total_seconds())
        limit = int(limits.max_future.total_seconds())
        raise Invalid(field, f"is {ahead} s in the future; at most {limit} s ahead is accepted")
    return ts


def _from_epoch(value: float, field: str) -> datetime:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude."""
    magnitude = abs(value)
    if magnitude < 1e11:
        micros = value * 1_000_000
    elif magnitude < 1e14:
        micros = value * 1_000
    elif magnitude < 1e17:
        micros = value
    else:
        micros = value / 1_000
    try:
        return _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:
        raise Invalid(field, f"{value} is outside the supported time range") from None


def _too_deep(node: dict[str, Any] | list[Any], depth: int, max_depth: int) -> bool:
    if depth > max_depth:
        return True
    for child in node.values() if isinstance(node, dict) else node:
        if isinstance(child, (dict, list)) and _too_deep(child, depth + 1, max_depth):
            return True
    return False


def _check_tree(value: Any, path: str, limits: Limits) -> None:
    """Depth limit, and no NUL or lone surrogates (PostgreSQL cannot store them)."""
    if not limits.check_strings and (
        not isinstance(value, (dict, list)) or not _too_deep(value, 1, limits.max_depth)
    ):
        return  # the hot path: only containers visited, no paths built (the walk below names them)
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limits.max_depth:
                raise Invalid(where, f"nesting is deeper than {limits.max_depth} levels")
            for key, child in node.items():
                if limits.check_strings:
                    _check_string(key, where or key)
                stack.append((child, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(node, list):
            if depth > limits.max_depth:
                raise Invalid(where, f"nesting is deeper than {limits.max_depth} levels")
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(node))
        elif limits.check_strings and isinstance(node, str):
            _check_string(node, where)


def _check_string(text: str, where: str) -> None:
    if "\x00" in text:
        raise Invalid(where, "contains a NUL character (\\u0000), which cannot be stored")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid(where, "contains an unpaired UTF-16 surrogate") from None


def _check_age(provider: str, ts: datetime, field: str, limits: Limits) -> None:
    if limits.too_old is not None:
        reason = limits.too_old(provider, ts)
        if reason is not None:
            raise Invalid(field, reason)


def _pop(attrs: dict[str, Any], flat: str, nested: str | None) -> Any:
    """Take `event.x` given flat (`"event.x": ...`) or nested (`"event": {"x": ...}`)."""
    value = attrs.pop(flat, None)
    if nested is not None:
        group = attrs.get("event")
        if isinstance(group, dict) and nested in group:
            rest = dict(group)
            inner = rest.pop(nested)
            if rest:
                attrs["event"] = rest
            else:
                del attrs["event"]
            if value is None:
                value = inner
    return value


def from_json_object(obj: Any, limits: Limits) -> NewEvent:
    if not isinstance(obj, dict):
        raise Invalid("", f"an event must be a JSON object, not {_json_type(obj)}")
    attrs = dict(obj)
    provider = _pop(attrs, "event.provider", "provider")
    etype = _pop(attrs, "event.type", "type")
    event_id = _pop(attrs, "event.id", "id")
    return from_fields(provider, etype, event_id, attrs.pop("timestamp", None), attrs, limits)


def from_fields(
    provider_value: Any,
    type_value: Any,
    id_value: Any,
    time_value: Any,
    attrs: dict[str, Any],
    limits: Limits,
) -> NewEvent:
    """`from_json_object` once the event's own fields are taken out of the object: `attrs` is
    the rest (kept as the event's attributes, not copied). For callers that build events field
    by field (`import-log`), with the same checks in the same order."""
    provider = _name(provider_value, "event.provider")
    etype = _name(type_value, "event.type")
    event_id = _optional_name(id_value, "event.id")
    ts = parse_timestamp(time_value, "timestamp", limits)
    _check_age(provider, ts, "timestamp", limits)
    _check_tree(attrs, "", limits)
    if limits.check_strings:
        for name, field in ((provider, "event.provider"), (etype, "event.type")):
            _check_string(name, field)
        if event_id is not None:
            _check_string(event_id, "event.id")
    return NewEvent(provider, event_id or str(uuid.uuid4()), etype, ts, attrs)


# CloudEvents 1.0 context attributes that map to columns or are envelope only.
_CE_ENVELOPE = frozenset({"specversion", "id", "source", "type", "time", "data", "datacontenttype"})


def from_cloudevent(obj: Any, limits: Limits) -> NewEvent:
    """source → provider, type → type, id → event.id, time → timestamp, data keys → attributes.

    Extension and optional context attributes (traceparent, dtcontext, subject, dataschema…)
    are kept as attributes: they link business events to traces.
    """
    if not isinstance(obj, dict):
        raise Invalid("", f"a CloudEvent must be a JSON object, not {_json_type(obj)}")
    version = obj.get("specversion")
    if version is None:
        raise Invalid("specversion", "is required for a CloudEvent")
    if version != "1.0":
        raise Invalid("specversion", f"must be '1.0', not {str(version)[:20]!r}")
    if "data_base64" in obj:
        raise Invalid("data_base64", "binary data is not supported: send JSON data in 'data'")
    provider = _name(obj.get("source"), "source")
    etype = _name(obj.get("type"), "type")
    event_id = _optional_name(obj.get("id"), "id")
    ts = parse_timestamp(obj.get("time"), "time", limits)
    _check_age(provider, ts, "time", limits)
    data = obj.get("data")
    attrs: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
    if data is not None and not isinstance(data, dict):
        attrs["data"] = data
    for key, value in obj.items():
        if key not in _CE_ENVELOPE:
            attrs[key] = value
    _check_tree(attrs, "", limits)
    if limits.check_strings:
        for name, field in ((provider, "source"), (etype, "type"), (event_id, "id")):
            if name is not None:
                _check_string(name, field)
    return NewEvent(provider, event_id or str(uuid.uuid4()), etype, ts, attrs)
