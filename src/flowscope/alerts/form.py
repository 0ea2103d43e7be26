"""The rule form: its flat fields to a rule's data (checked by `RuleIn` like the API's), and a
rule (or the `?flow=&kpi=&step=` of a KPI card's *New alert* link) back to field values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from flowscope.alerts.schemas import KPI_LABELS, RuleIn

# Which form fields each analyzer type reads; the others are left out so that the strict
# schema does not refuse a field the user could not see.
ANALYZER_FIELDS = {
    "static": ("condition", "threshold"),
    "adaptive": ("condition", "window", "n"),
    "seasonal": ("condition", "period", "seasons", "tolerance", "min_band"),
    "missing_data": ("intervals",),
}
DEFAULTS = {
    "name": "",
    "severity": "warning",
    "source_kind": "kpi",
    "flow": "",
    "kpi": "exceptions",
    "step": "",
    "query": "",
    "type": "static",
    "condition": "above",
    "threshold": "",
    "window": "1440",
    "n": "1.5",
    "period": "day",
    "seasons": "3",
    "tolerance": "0.25",
    "min_band": "1",
    "intervals": "3",
    "violating": "3",
    "of": "5",
    "dealerting": "5",
    "interval_seconds": "60",
    "enabled": "on",
}


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (a dependency, so that sync routes get them)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def rule_data(form: Mapping[str, str]) -> dict[str, Any]:
    """A rule's data from the form's fields; empty fields are left to the defaults."""

    def given(key: str) -> str | None:
        value = form.get(key, "").strip()
        return value or None

    if form.get("source_kind") == "query":
        source: dict[str, Any] = {"query": form.get("query", "")}
    else:
        source = {"flow": form.get("flow", ""), "kpi": form.get("kpi", "")}
        if given("step"):
            source["step"] = given("step")
    kind = form.get("type", "static")
    analyzer: dict[str, Any] = {"type": kind}
    for key in ANALYZER_FIELDS.get(kind, ()):
        if (value := given(key)) is not None:
            analyzer[key] = value
    samples = {k: v for k in ("violating", "of", "dealerting") if (v := given(k)) is not None}
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "severity": form.get("severity", "warning"),
        "source": source,
        "analyzer": analyzer,
        "samples": samples,
        "enabled": form.get("enabled") == "on",
    }
    if (interval := given("interval_seconds")) is not None:
        data["interval_seconds"] = interval
    return data


def values_of(rule: RuleIn) -> dict[str, str]:
    """The form's field values for a saved rule."""
    data = rule.model_dump(mode="json")
    values = dict(DEFAULTS)
    source = data["source"]
    values["source_kind"] = "query" if "query" in source else "kpi"
    values.update({k: "" if v is None else str(v) for k, v in source.items()})
    values.update({k: str(v) for k, v in data["analyzer"].items()})
    values.update({k: str(v) for k, v in data["samples"].items()})
    values["name"] = rule.name
    values["severity"] = rule.severity
    values["interval_seconds"] = str(rule.interval_seconds)
    values["enabled"] = "on" if rule.enabled else ""
    return values


def prefilled(flow: str | None, kpi: str | None, step: str | None) -> dict[str, str]:
    """A new rule's fields from a KPI card's link: the flow and KPI, and a name for it."""
    values = dict(DEFAULTS)
    if flow:
        values["flow"] = flow
    if kpi:
        values["kpi"] = kpi
    if step:
        values["step"] = step
    if flow and kpi:
        label = KPI_LABELS.get(kpi, kpi)
        values["name"] = f"{label} of {flow}" + (f" at {step}" if step else "")
    return values


def form_values(form: Mapping[str, str]) -> dict[str, str]:
    """The posted fields again (to show the form with its errors)."""
    values = dict(DEFAULTS)
    values.update({k: v for k, v in form.items() if k in DEFAULTS})
    values["enabled"] = "on" if form.get("enabled") == "on" else ""
    return values
