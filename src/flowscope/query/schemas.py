from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class QueryRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    query: str = Field(max_length=20_000, description="FQL text, e.g. `fetch bizevents | limit 10`")
    time_from: str | None = Field(
        default=None,
        alias="from",
        max_length=64,
        description="Timeframe start when the query has no from: (-2h, -1d-1h, ISO 8601).",
    )
    time_to: str | None = Field(
        default=None, alias="to", max_length=64, description="Timeframe end (default now)."
    )


class Column(BaseModel):
    name: str
    type: str


class TimeframeOut(BaseModel):
    start: str
    end: str


class QueryResponse(BaseModel):
    columns: list[Column]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    elapsed_ms: float
    timeframe: TimeframeOut
    interval: int | None = Field(
        default=None, description="makeTimeseries: the bin width in nanoseconds."
    )
    query_timeframe: TimeframeOut | None = None


class QueryErrorDetail(BaseModel):
    code: str
    message: str
    line: int | None
    column: int | None


class QueryErrorResponse(BaseModel):
    error: QueryErrorDetail


class FunctionCompletion(BaseModel):
    name: str
    signature: str = Field(description="e.g. `round(x, decimals:)`")


class CompletionsResponse(BaseModel):
    """What the notebook's editor offers while typing."""

    commands: list[str] = Field(description="Command names, offered after `|`")
    functions: list[FunctionCompletion]
    fields: list[str] = Field(description="Field names seen in the newest events (bounded)")
