"""What a tile shows: markdown rendered safely, or an FQL result shaped for its visualization."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from sqlalchemy.orm import Session

from flowscope.dashboards.schemas import DashboardSpec, Tile, Variable
from flowscope.dashboards.variables import substitute
from flowscope.errors import FlowscopeError
from flowscope.query.errors import QueryError
from flowscope.query.presentation import cell_text, chart_for
from flowscope.query.service import QueryResult, run_query
from flowscope.settings import Settings

# Raw HTML in markdown is shown as text (html=False), and markdown-it refuses javascript:/data:
# links, so a tile cannot inject script into the page of whoever views the dashboard.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
MAX_OPTIONS = 500
TABLE_ROWS = 200  # what _tile.html shows of a table: fetching more only costs memory


def render_markdown(text: str) -> str:
    return str(_MARKDOWN.render(text))


@dataclass(frozen=True)
class TimeframeText:
    """The page's timeframe as typed (`-24h`, an ISO time, `to` empty for now), not yet a
    `flowscope.timeframes.Timeframe`: each tile's query resolves it when it runs, so a refresh
    moves a relative timeframe along, and a bad value is shown on the tile as its error."""

    time_from: str
    time_to: str


@dataclass
class TileView:
    """The template's input for one tile."""

    tile: Tile
    html: str = ""
    result: QueryResult | None = None
    error: str | None = None
    single: dict[str, Any] | None = None
    chart: dict[str, Any] | None = None
    note: str | None = None


def _run(
    session: Session, settings: Settings, text: str, frame: TimeframeText, limit: int | None = None
) -> QueryResult:
    return run_query(
        session,
        text,
        time_from=frame.time_from or None,
        time_to=frame.time_to or None,
        timeout_s=settings.query_timeout_seconds,
        row_cap=limit or settings.query_row_cap,
        default_from=settings.query_default_from,
        max_columns=settings.query_max_columns,
        max_bytes=settings.query_max_result_bytes,
    )


def variable_options(
    session: Session, settings: Settings, variable: Variable, frame: TimeframeText
) -> tuple[list[str], str | None]:
    """The choices of a variable (its list, or its query's first column) and any error."""
    if variable.values:
        return list(variable.values), None
    try:
        result = _run(session, settings, variable.query, frame, MAX_OPTIONS)
    except (QueryError, FlowscopeError) as exc:
        return [], f"variable ${variable.name}: {exc}"
    seen = dict.fromkeys(cell_text(row[0], "string") for row in result.rows if row)
    return list(seen), None


def chosen_values(
    spec: DashboardSpec, requested: Mapping[str, str], options: Mapping[str, list[str]]
) -> dict[str, str]:
    """Each variable's value: the request's, else its default, else its first choice.

    Any text is accepted (a variable is a value, never query text: see `variables.py`)."""
    values = {}
    for variable in spec.variables:
        given = requested.get(variable.name)
        if given is None:
            choices = options.get(variable.name) or []
            given = variable.default or (choices[0] if choices else "")
        values[variable.name] = given
    return values


def tile_view(
    session: Session,
    settings: Settings,
    tile: Tile,
    frame: TimeframeText,
    values: Mapping[str, str],
) -> TileView:
    view = TileView(tile)
    if tile.kind == "markdown":
        view.html = render_markdown(tile.markdown)
        return view
    try:
        text = substitute(tile.query, values)
        limit = TABLE_ROWS if tile.viz == "table" else None
        view.result = _run(session, settings, text, frame, limit)
    except QueryError as exc:
        where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
        view.error = f"{exc.message}{where}"
        return view
    except FlowscopeError as exc:
        view.error = exc.message
        return view
    _shape(view, view.result)
    return view


def _numeric(result: QueryResult) -> list[int]:
    return [i for i, c in enumerate(result.columns) if c["type"] in ("number", "duration")]


def _shape(view: TileView, result: QueryResult) -> None:
    tile = view.tile
    if tile.viz == "table":
        return
    if not result.rows:
        view.note = "No records in this timeframe."
        return
    if tile.viz == "single":
        view.single = _single(tile, result)
        return
    base = chart_for(result)
    if base is None or base["kind"] == "single":
        view.note = (
            f"This result does not fit a {tile.viz} chart (it needs a makeTimeseries result, "
            "or text columns and one number): shown as a table."
        )
        return
    if base["kind"] == "timeseries":
        if tile.viz == "donut":
            totals = [sum(v or 0 for v in s["values"]) for s in base["series"]]
            view.chart = {
                "type": "donut",
                "categories": [s["name"] for s in base["series"]],
                "values": totals,
            }
        else:
            view.chart = {"type": tile.viz, "times": base["times"], "series": base["series"]}
        return
    view.chart = {
        "type": tile.viz,
        "categories": base["categories"],
        "values": base["values"],
        "name": base["value"],
    }


def _single(tile: Tile, result: QueryResult) -> dict[str, Any]:
    numeric = _numeric(result)
    index = numeric[0] if numeric else 0
    column = result.columns[index]
    value = result.rows[0][index]
    color = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        for threshold in sorted(tile.thresholds, key=lambda t: t.value):
            if value >= threshold.value:
                color = threshold.color
    return {
        "text": cell_text(value, column["type"]),
        "label": column["name"],
        "color": color,
        "unit": tile.unit,
    }
