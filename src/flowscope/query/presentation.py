"""How a result is shown: the chart kind chosen from its shape, and readable cells."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from flowscope.flows.analysis.formatting import number
from flowscope.query.service import QueryResult

MAX_CATEGORY_ROWS = 60
MAX_SERIES = 20


def chart_for(result: QueryResult) -> dict[str, Any] | None:
    """A chart spec for the page's script, or None when a table says it better.

    - one row with one numeric value: a single value
    - makeTimeseries output: lines, one per row (group) and aggregate
    - a few rows with text columns and one numeric column: bars per category
    """
    types = [c["type"] for c in result.columns]
    names = [c["name"] for c in result.columns]
    if not result.rows:
        return None
    if result.interval_ns is not None and result.series_timeframe is not None:
        return _timeseries(result, names, types)
    numeric = [i for i, t in enumerate(types) if t in ("number", "duration")]
    if len(result.rows) == 1 and len(numeric) >= 1 and len(numeric) == len(types) <= 4:
        return {
            "kind": "single",
            "values": [
                {"label": names[i], "value": result.rows[0][i], "type": types[i]} for i in numeric
            ],
        }
    labels = [i for i, t in enumerate(types) if t in ("string", "boolean", "json")]
    if len(numeric) == 1 and labels and len(result.rows) <= MAX_CATEGORY_ROWS:
        value = numeric[0]
        return {
            "kind": "categories",
            "label": " · ".join(names[i] for i in labels),
            "value": names[value],
            "categories": [" · ".join(_text(row[i]) for i in labels) for row in result.rows],
            "values": [row[value] for row in result.rows],
        }
    return None


def _timeseries(result: QueryResult, names: list[str], types: list[str]) -> dict[str, Any] | None:
    if result.series_timeframe is None or result.interval_ns is None:
        return None
    arrays = [i for i, t in enumerate(types) if t == "array"]
    keys = [
        i
        for i, (n, t) in enumerate(zip(names, types, strict=True))
        if t != "array" and n not in ("timeframe", "interval")
    ]
    if not arrays:
        return None
    series = []
    length = 0
    for row in result.rows[:MAX_SERIES]:
        group = " · ".join(_text(row[i]) for i in keys)
        for i in arrays:
            values = row[i] or []
            length = max(length, len(values))
            label = " · ".join(
                part for part in (group, names[i] if len(arrays) > 1 else "") if part
            )
            series.append({"name": label or names[i], "values": values})
    step = timedelta(microseconds=result.interval_ns / 1000)
    start = result.series_timeframe.start
    times = [(start + step * i).isoformat() for i in range(length)]
    return {"kind": "timeseries", "times": times, "series": series}


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def duration_text(ns: float) -> str:
    """1h 2m 3.5s from nanoseconds; small values in ms/µs/ns."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns:g} ns"
    if ns < 1_000_000:
        return f"{sign}{ns / 1_000:.3g} µs"
    if ns < 1_000_000_000:
        return f"{sign}{ns / 1_000_000:.3g} ms"
    seconds = ns / 1_000_000_000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            count = int(seconds // size)
            parts.append(f"{count}{unit}")
            seconds -= count * size
    if seconds or not parts:
        parts.append(f"{seconds:.3g}s")
    return sign + " ".join(parts)


def _is_timeframe(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"start", "end"}


def _stamp(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return str(value)


def cell_text(value: Any, kind: str) -> str:
    """A cell as text (the template escapes it)."""
    if value is None:
        return "null"
    if kind == "duration" and isinstance(value, int | float):
        return duration_text(value)
    if kind == "timestamp" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
        except ValueError:
            return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(value)  # the pages' one rounding and separator rule
    if kind == "json" and _is_timeframe(value):
        return f"{_stamp(value['start'])} – {_stamp(value['end'])}"
    if isinstance(value, list) and len(value) > 12:
        head = ", ".join(_text(v) for v in value[:12])
        return f"[{head}, … {len(value) - 12} more]"
    return _text(value)
