"""Formatting for the flow pages: durations, changes, sparklines, IT context.

Pure functions (no database), registered as Jinja filters by `register`, so the templates
show numbers the same way everywhere and the tests can check them without a browser.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from flowscope.attributes import lookup
from flowscope.flows.analysis import notebook
from flowscope.flows.analysis.schemas import MIN_BASELINE
from flowscope.settings import get_settings

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


def results_age(as_of: datetime | None, now: datetime) -> str | None:
    """How old the results are ("1.2 s", "3 min 5 s"); None when there are none yet."""
    if as_of is None:
        return None
    seconds = max(0.0, (now - as_of).total_seconds())
    return f"{seconds:.1f} s" if seconds < 10 else duration(seconds)


def percent(ratio: float | None, digits: int = 1) -> str:
    if ratio is None:
        return "—"
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return f"{format_decimal(ratio * 100, format=pattern, locale=_locale())} %"


def _flat(text: str) -> dict[str, str]:
    return {"text": text, "tone": "flat", "arrow": ""}


def shown(kpi: str, value: float | None, currency: str | None = None) -> str:
    """A KPI's value as its card shows it."""
    if kpi == "revenue":
        return money(value, currency)
    if kpi in ("conversion", "exception_rate"):
        return percent(value)
    if kpi.endswith("duration_s"):
        return duration(value)
    return number(None if value is None else round(value))


def change(
    pct: float | None,
    kpi: str,
    previous: float | None = None,
    current: float | None = None,
    *,
    flows: int | None = None,
    baseline: int | None = None,
    empty: str = "no flows in this timeframe",
    currency: str | None = None,
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
        return _flat(f"prev. {shown(kpi, previous, currency)}")
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
        "text": f"{'+' if up else '−'}{format_decimal(abs(pct), '#,##0.0', locale=_locale())} %",
        "tone": "good" if good else "bad",
        "arrow": "▲" if up else "▼",
    }


def _locale() -> str:
    # One deployment-wide format, like the process's other settings read at start-up.
    return get_settings().locale


def number(value: float | None) -> str:
    """The one rule for a plain number on every page, dashboard tile and query result.

    Whole numbers show whole; others show two decimals (four significant digits below 1, so a
    rate like 0.0042 does not read as 0.00). Separators follow FLOWSCOPE_LOCALE."""
    if value is None:
        return "—"
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return format_decimal(int(value), locale=_locale())
    if abs(value) < 1:
        return format_decimal(value, format="0.####", locale=_locale())
    return format_decimal(value, format="#,##0.00", locale=_locale())


def money(value: float | None, currency: str | None = None) -> str:
    """An amount always to the currency's minor unit (cents: 593,724.29, never 593,724 on one
    page and 593,724.29 on another), with its symbol when the flow names a currency."""
    if value is None:
        return "—"
    if currency:
        return format_currency(value, currency, locale=_locale())
    return format_decimal(value, format="#,##0.00", locale=_locale())


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


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_link(template: str | None, trace_id: str) -> str | None:
    """The trace UI's page for a trace id (FLOWSCOPE_TRACE_URL), or None when none is set.

    The id is percent-encoded: it comes from event data and must not reshape the URL."""
    if not template:
        return None
    parent = _TRACEPARENT.fullmatch(trace_id)  # W3C traceparent: version-traceid-spanid-flags
    if parent:
        trace_id = parent.group(1)
    return template.replace("{trace_id}", quote(trace_id, safe=""))


@pass_context
def _page_trace_link(context: Context, trace_id: str) -> str | None:
    # The serving app's settings (tests and several apps per process each have their own).
    request = context.get("request")
    settings = request.app.state.settings if request is not None else get_settings()
    return trace_link(settings.trace_url, trace_id)


def register(env: Environment) -> None:
    env.filters["duration"] = duration
    env.filters["percent"] = percent
    env.filters["money"] = money
    env.filters["number"] = number
    # Replaces web.py's plain `{:,}` so counts follow the same locale as every other number.
    env.filters["thousands"] = number
    env.filters["pretty_json"] = pretty_json
    env.tests["mapping_value"] = is_mapping
    env.tests["list_value"] = is_list
    env.globals["kpi_change"] = change
    env.globals["sparkline"] = sparkline
    env.globals["results_age"] = results_age
    env.globals["it_context"] = it_context
    env.globals["trace_link"] = _page_trace_link
    env.globals["notebook_flow"] = notebook.flow_query
    env.globals["notebook_timeline"] = notebook.timeline_query
