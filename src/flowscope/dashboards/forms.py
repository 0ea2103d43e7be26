"""Form fields of the dashboard pages → tiles, variables and settings (validated by schemas)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from flowscope.dashboards import service
from flowscope.dashboards.schemas import DashboardSpec, Tile
from flowscope.errors import FlowscopeError
from flowscope.timeframes import DEFAULT_FROM

MOVES = {
    "left": (-1, 0, 0, 0),
    "right": (1, 0, 0, 0),
    "up": (0, -1, 0, 0),
    "down": (0, 1, 0, 0),
    "narrower": (0, 0, -1, 0),
    "wider": (0, 0, 1, 0),
    "shorter": (0, 0, 0, -1),
    "taller": (0, 0, 0, 1),
}


def thresholds(text: str) -> list[dict[str, Any]]:
    """`0:#1a7f37, 10:#b42318` → thresholds; a mistake names the entry."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        value, sep, color = part.partition(":")
        try:
            number = float(value)
        except ValueError:
            raise FlowscopeError(
                f"thresholds: '{part}' is not value:#rrggbb (e.g. 10:#b42318)"
            ) from None
        if not sep:
            raise FlowscopeError(f"thresholds: '{part}' needs a colour, e.g. {value}:#b42318")
        out.append({"value": number, "color": color.strip()})
    return out


def thresholds_text(tile: Tile) -> str:
    return ", ".join(f"{t.value:g}:{t.color}" for t in tile.thresholds)


def tile_from_form(
    spec: DashboardSpec, form: dict[str, str], existing: Tile | None
) -> DashboardSpec:
    base: dict[str, Any]
    if existing is not None:
        base = existing.model_dump()
    else:
        base = {"id": service.new_tile_id(spec), "x": 0, "y": service.next_row(spec), "w": 4}
        base["h"] = 2 if form.get("viz") == "single" or form.get("kind") == "markdown" else 3
    base.update(
        kind=form.get("kind", "data"),
        title=form.get("title", "").strip(),
        viz=form.get("viz", "table"),
        query=form.get("query", ""),
        markdown=form.get("markdown", ""),
        unit=form.get("unit", "").strip(),
        thresholds=thresholds(form.get("thresholds", "")),
    )
    if base["kind"] == "markdown":
        base["query"] = ""
    return service.with_tile(spec, _tile(base))


def _tile(data: dict[str, Any]) -> Tile:
    try:
        return Tile.model_validate(data)
    except ValidationError as exc:
        raise service.invalid(exc) from None


def variable_from_form(spec: DashboardSpec, form: dict[str, str]) -> DashboardSpec:
    values = [v.strip() for v in form.get("values", "").split(",") if v.strip()]
    data = {
        "name": form.get("name", "").strip().lstrip("$"),
        "label": form.get("label", "").strip(),
        "values": values,
        "query": form.get("query", "") if not values else "",
        "default": form.get("default", "").strip() or None,
    }
    variables = [v.model_dump() for v in spec.variables if v.name != data["name"]]
    return service.parse_spec({**spec.model_dump(), "variables": [*variables, data]})


def without_variable(spec: DashboardSpec, name: str) -> DashboardSpec:
    variables = [v.model_dump() for v in spec.variables if v.name != name]
    return service.parse_spec({**spec.model_dump(), "variables": variables})


def settings_from_form(spec: DashboardSpec, form: dict[str, str]) -> DashboardSpec:
    refresh = form.get("refresh_seconds", "").strip() or str(spec.refresh_seconds)
    if not refresh.isdigit():
        raise FlowscopeError("refresh_seconds: a whole number of seconds (10 to 3600)")
    return service.parse_spec(
        {
            **spec.model_dump(),
            "name": form.get("name", spec.name).strip(),
            "description": form.get("description", spec.description).strip(),
            "time_from": form.get("time_from", spec.time_from).strip() or DEFAULT_FROM,
            "time_to": form.get("time_to", spec.time_to).strip(),
            "refresh_seconds": int(refresh),
        }
    )
