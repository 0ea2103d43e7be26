"""Formatting for the flow pages: durations, changes, sparklines, IT context.

Pure functions (no database), registered as Jinja filters by `register`, so the templates
show numbers the same way everywhere and the tests can check them without a browser.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment

from flowscope.attributes import lookup
from flowscope.flows.analysis.schemas import MIN_BASELINE

# For each KPI: is a rise good news? Exceptions and durations going up are bad.
UP_IS_GOOD = {
    "revenue": True,
    "conversion": True,
    "started": True,
    "completed": True,
    "exceptions": False,
    "exception_rate": False,
    "avg_duration_s": False,
}


def duration(seconds: float | None) -> str:
    """Seconds as the two largest units: `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`."""
    if seconds is None:
        return "—"
    s = round(float(seconds))
    if s < 60:
        return f"{s} s"
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    for i, (unit, size) in enumerate(units):
        if s >= size:
            text = f"{s // size} {unit}"
            next_unit, next_size = units[i + 1]
            rest = (s % size) // next_size
            return f"{text} {rest} {next_unit}" if rest else text
    return f"{s} s"


def percent(ratio: float | None, digits: int = 1) -> str:
    return "—" if ratio is None else f"{ratio * 100:.{digits}f} %"


def _flat(text: str) -> dict[str, str]:
    return {"text": text, "tone": "flat", "arrow": ""}


def shown(kpi: str, value: float | None) -> str:
    """A KPI's value as its card shows it."""
    if kpi == "revenue":
        return money(value)
    if kpi in ("conversion", "exception_rate"):
        return percent(value)
    if kpi.endswith("duration_s"):
        return duration(value)
    return "—" if value is None else f"{value:,.0f}"


def change(
    pct: float | None,
    kpi: str,
    previous: float | None = None,
    current: float | None = None,
    *,
    flows: int | None = None,
    baseline: int | None = None,
    empty: str = "no flows in this timeframe",
) -> dict[str, str]:
    """The text and tone of a change: `tone` is good/bad/flat, knowing which way is good.

    `flows` and `baseline` are how many flows the value stands on now and in the timeframe
    before: with none now the text says so (`empty`), and with fewer than MIN_BASELINE before
    it shows the previous value (`prev. 40.00`) instead of a percentage."""
    if flows == 0:
        return _flat(empty)
    if baseline == 0:
        return _flat("no flows in the timeframe before")
    if baseline is not None and baseline < MIN_BASELINE and previous is not None:
        return _flat(f"prev. {shown(kpi, previous)}")
    if pct is None:
        if previous == 0 and current:
            good = UP_IS_GOOD.get(kpi, True)
            return {"text": "up from 0", "tone": "good" if good else "bad", "arrow": "▲"}
        if current is None:
            return _flat(empty)
        return _flat("no flows in the timeframe before")
    if pct == 0:
        return {"text": "±0 %", "tone": "flat", "arrow": "→"}
    up = pct > 0
    good = up == UP_IS_GOOD.get(kpi, True)
    return {
        "text": f"{'+' if up else '−'}{abs(pct):.1f} %",
        "tone": "good" if good else "bad",
        "arrow": "▲" if up else "▼",
    }


def money(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def sparkline(series: list[int], width: int = 160, height: int = 36) -> str:
    """SVG polyline points for `series` scaled into the box (0 at the bottom)."""
    if not series:
        return ""
    top = max(series) or 1
    step = width / max(len(series) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(series)
    )


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


def is_list(value: Any) -> bool:
    return isinstance(value, list)


# Attributes that tie a business event to the technical side (OpenTelemetry, Dynatrace and
# common names): shown on the timeline so an analyst can go from a failed flow to its trace.
IT_CONTEXT = (
    ("host", ("host.name", "host", "dt.entity.host", "hostname")),
    ("service", ("service.name", "service", "dt.entity.service", "dt.entity.process_group")),
    ("trace", ("trace_id", "trace.id", "traceId", "dt.trace_id", "traceparent")),
    ("span", ("span_id", "span.id", "spanId", "dt.span_id")),
)


def it_context(attributes: Any) -> list[tuple[str, str]]:
    """(label, value) of the IT context an event carries, e.g. ("trace", "4bf92f…")."""
    if not isinstance(attributes, dict):
        return []
    found = []
    for label, paths in IT_CONTEXT:
        for path in paths:
            value = lookup(attributes, path)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                found.append((label, str(value)))
                break
    return found


def register(env: Environment) -> None:
    env.filters["duration"] = duration
    env.filters["percent"] = percent
    env.filters["money"] = money
    env.filters["pretty_json"] = pretty_json
    env.tests["mapping_value"] = is_mapping
    env.tests["list_value"] = is_list
    env.globals["kpi_change"] = change
    env.globals["sparkline"] = sparkline
    env.globals["it_context"] = it_context
