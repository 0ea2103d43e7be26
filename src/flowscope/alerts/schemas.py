"""What an alert rule is, as the API, the form and the YAML files give it.

Every model forbids unknown keys, so a typo (`treshold`) is a 422 naming the field instead of
a rule that silently watches nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

Severity = Literal["info", "warning", "critical"]
FlowKpi = Literal[
    "started",
    "completed",
    "conversion",
    "revenue",
    "exceptions",
    "exception_rate",
    "avg_duration",
    "median_duration",
    "p90_duration",
    "dropped",
    "stalled",
]
StepKpi = Literal["reached", "dropped", "exceptions"]
FLOW_KPIS: tuple[str, ...] = FlowKpi.__args__  # type: ignore[attr-defined]
STEP_KPIS: tuple[str, ...] = StepKpi.__args__  # type: ignore[attr-defined]
KPI_LABELS = {
    "started": "Started flows",
    "completed": "Completed flows",
    "conversion": "Conversion",
    "revenue": "Revenue",
    "exceptions": "Business exceptions",
    "exception_rate": "Exception rate",
    "avg_duration": "Average duration",
    "median_duration": "Median duration",
    "p90_duration": "p90 duration",
    "dropped": "Dropped flows",
    "stalled": "Stalled flows",
    "reached": "Reached the step",
}


# A row id in a path: within PostgreSQL's bigint, so a huge number is a 4xx, not a 5xx.
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KpiSource(_Strict):
    flow: str = Field(min_length=1, max_length=64, description="the flow's slug")
    kpi: str = Field(description="a flow KPI, or with `step` a step KPI")
    step: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _known_kpi(self) -> KpiSource:
        allowed = STEP_KPIS if self.step else FLOW_KPIS
        if self.kpi not in allowed:
            where = "a step" if self.step else "a flow"
            raise ValueError(f"kpi {self.kpi!r} is not one of {', '.join(allowed)} for {where}")
        return self


class QuerySource(_Strict):
    query: str = Field(
        min_length=1,
        max_length=20_000,
        description="FQL ending in makeTimeseries (one series per `by:` group) or one number",
    )


def _source_kind(value: Any) -> str:
    # Chosen by its keys, so an error names the fields of the source that was meant.
    if isinstance(value, QuerySource) or (isinstance(value, dict) and "query" in value):
        return "query"
    return "kpi"


Source = Annotated[
    Annotated[KpiSource, Tag("kpi")] | Annotated[QuerySource, Tag("query")],
    Discriminator(_source_kind),
]


class StaticAnalyzer(_Strict):
    type: Literal["static"]
    condition: Literal["above", "below"] = "above"
    threshold: float = Field(allow_inf_nan=False)


class AdaptiveAnalyzer(_Strict):
    type: Literal["adaptive"]
    condition: Literal["above", "below", "outside"] = "above"
    window: int = Field(
        default=1440, ge=10, le=20_160, description="trailing samples the baseline is taken from"
    )
    n: float = Field(default=1.5, ge=0, le=100, allow_inf_nan=False, description="× IQR")


class SeasonalAnalyzer(_Strict):
    type: Literal["seasonal"]
    condition: Literal["above", "below", "outside"] = "outside"
    period: Literal["day", "week"] = "day"
    seasons: int = Field(default=3, ge=1, le=8, description="earlier periods compared")
    tolerance: float = Field(default=0.25, ge=0, le=10, allow_inf_nan=False)
    min_band: float = Field(default=1.0, ge=0, allow_inf_nan=False)


class MissingDataAnalyzer(_Strict):
    type: Literal["missing_data"]
    intervals: int = Field(default=3, ge=1, le=100, description="intervals without data")


ANALYZER_TYPES = ("static", "adaptive", "seasonal", "missing_data")
Analyzer = Annotated[
    StaticAnalyzer | AdaptiveAnalyzer | SeasonalAnalyzer | MissingDataAnalyzer,
    Field(discriminator="type"),
]


class Samples(_Strict):
    violating: int = Field(default=3, ge=1, le=60)
    of: int = Field(default=5, ge=1, le=60)
    dealerting: int = Field(default=5, ge=1, le=60)

    @model_validator(mode="after")
    def _fits(self) -> Samples:
        if self.violating > self.of:
            raise ValueError(f"violating ({self.violating}) cannot exceed of ({self.of})")
        return self


class RuleIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    severity: Severity = "warning"
    source: Source
    analyzer: Analyzer
    samples: Samples = Field(default_factory=Samples)
    interval_seconds: int = Field(default=60, ge=1, le=86_400)
    enabled: bool = True


class SilenceIn(_Strict):
    rule: int | None = Field(default=None, description="a rule id; none mutes every rule")
    starts_at: datetime | None = Field(default=None, description="default: now")
    ends_at: datetime
    reason: str = Field(default="", max_length=500)
