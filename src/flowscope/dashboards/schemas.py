"""A dashboard as data: tiles on a 12-column grid, variables, the default timeframe.

The same model is stored (`Dashboard.spec`), exported as JSON and imported again, so an export
of one installation loads into another unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from flowscope.timeframes import DEFAULT_FROM, TimeframeError, parse_time

GRID_COLUMNS = 12
MAX_TILES = 60
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
COLOR = r"^#[0-9a-fA-F]{6}$"
# Validation context of a spec read back from the database: see `DashboardSpec._times`.
STORED = {"stored": True}
Kind = Literal["markdown", "data"]
Viz = Literal["single", "line", "bar", "donut", "table"]
VIZ_NAMES: dict[str, str] = {
    "single": "Single value",
    "line": "Line chart",
    "bar": "Bar chart",
    "donut": "Donut",
    "table": "Table",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Threshold(_Model):
    """From `value` upwards the single value takes `color` (the highest reached one wins)."""

    value: float
    color: str = Field(pattern=COLOR)


class Tile(_Model):
    id: str = Field(pattern=r"^[a-z0-9]{1,16}$")
    kind: Kind = "data"
    title: str = Field(default="", max_length=200)
    x: int = Field(default=0, ge=0, lt=GRID_COLUMNS)
    y: int = Field(default=0, ge=0, le=500)
    w: int = Field(default=4, ge=1, le=GRID_COLUMNS)
    h: int = Field(default=3, ge=1, le=12)
    markdown: str = Field(default="", max_length=20_000)
    query: str = Field(default="", max_length=20_000)
    viz: Viz = "table"
    unit: str = Field(default="", max_length=32)
    thresholds: list[Threshold] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _fits(self) -> Tile:
        if self.x + self.w > GRID_COLUMNS:
            raise ValueError(f"tile {self.id}: x + w must be at most {GRID_COLUMNS}")
        if self.kind == "data" and not self.query.strip():
            raise ValueError(f"tile {self.id}: a data tile needs a query")
        return self


class Variable(_Model):
    """`$name` in tile queries: chosen from `values`, or from the first column of `query`."""

    name: str = Field(pattern=NAME)
    label: str = Field(default="", max_length=128)
    values: list[str] = Field(default_factory=list, max_length=500)
    query: str = Field(default="", max_length=20_000)
    default: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _has_choices(self) -> Variable:
        if not self.values and not self.query.strip():
            raise ValueError(f"variable {self.name}: give a list of values or a query")
        return self


class DashboardSpec(_Model):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=2000)
    time_from: str = Field(default=DEFAULT_FROM, max_length=64)
    time_to: str = Field(default="", max_length=64)
    refresh_seconds: int = Field(default=60, ge=10, le=3600)
    variables: list[Variable] = Field(default_factory=list, max_length=20)
    tiles: list[Tile] = Field(default_factory=list, max_length=MAX_TILES)

    @field_validator("time_from", "time_to")
    @classmethod
    def _times(cls, value: str, info: ValidationInfo) -> str:
        """A time of the FQL syntax, checked when a dashboard is saved. A stored spec is read
        as it is, so a value that no longer parses is an error on each tile, not a dashboard
        that cannot be opened (and fixed)."""
        if _stored(info) or (info.field_name == "time_to" and not value):
            return value
        try:
            parse_time(value, datetime.now(UTC), str(info.field_name))
        except TimeframeError as exc:
            raise ValueError(exc.reason) from None
        return value

    @model_validator(mode="after")
    def _ordered(self, info: ValidationInfo) -> DashboardSpec:
        if _stored(info) or not self.time_to:
            return self
        now = datetime.now(UTC)
        if parse_time(self.time_from, now, "time_from") >= parse_time(self.time_to, now, "time_to"):
            raise ValueError("time_from: must be earlier than time_to")
        return self

    @model_validator(mode="after")
    def _unique(self) -> DashboardSpec:
        for what, names in (
            ("tile id", [t.id for t in self.tiles]),
            ("variable", [v.name for v in self.variables]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{what} {name!r} appears twice")
                seen.add(name)
        return self


def _stored(info: ValidationInfo) -> bool:
    context: Any = info.context
    return isinstance(context, dict) and bool(context.get("stored"))


class DashboardExport(DashboardSpec):
    """The file format: the spec plus the slug and a format marker."""

    format: Literal["flowscope.dashboard/v1"] = "flowscope.dashboard/v1"
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    flow: str | None = None


# --- JSON API answers ----------------------------------------------------------------------


class DashboardSummary(BaseModel):
    slug: str
    name: str
    version: int
    flow: str | None = Field(description="the flow whose template made it, if any")
    updated_at: str = Field(description="ISO 8601 time of the last change")
    updated_by: str


class DashboardOut(DashboardSummary):
    spec: DashboardSpec
