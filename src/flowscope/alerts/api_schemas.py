"""What the alerts API answers, as models: `/api/docs` shows the real shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from flowscope.alerts.schemas import RuleIn


class Created(BaseModel):
    id: int


class RuleOut(RuleIn):
    id: int
    created_at: datetime
    updated_at: datetime
    updated_by: str
    evaluated_at: datetime | None
    last_error: str | None = Field(description="why the last evaluation failed, if it did")
    open_alerts: int | None = None


class RuleRef(BaseModel):
    id: int
    name: str
    flow: str | None
    kpi: str | None


class SampleOut(BaseModel):
    at: datetime = Field(description="the start of the sample's interval")
    value: float | None
    violating: bool


class AlertOut(BaseModel):
    id: int
    rule: RuleRef
    state: str = Field(description="open | resolved")
    severity: str
    group: dict[str, str] = Field(description="the `by:` group of a query rule")
    threshold: str
    samples: list[SampleOut] = Field(description="the samples that opened it")
    started_at: datetime
    ended_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class SilenceOut(BaseModel):
    id: int
    rule: int | None = Field(description="the muted rule; null: every rule")
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str


class ImportOut(BaseModel):
    created: int
    updated: int


class SuggestOut(BaseModel):
    threshold: float | None
    statistic: str | None
    samples: int = Field(description="the samples of the last 7 days it was taken from")


class PointOut(BaseModel):
    at: datetime
    value: float | None
    violating: bool
    lower: float | None
    upper: float | None


class ChangeOut(BaseModel):
    change: str = Field(description="opened | resolved")
    at: datetime


class GroupOut(BaseModel):
    group: dict[str, str]
    opened: int
    resolved: int
    changes: list[ChangeOut]
    points: list[PointOut]


class PreviewOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    interval_seconds: int
    threshold: str
    opened: int = Field(description="alerts the rule would have opened in the window")
    resolved: int
    notes: list[str]
    groups: list[GroupOut]
