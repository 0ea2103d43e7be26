from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from flowscope.retention.rules import MAX_DAYS


class RetentionChange(BaseModel):
    days: int | None = Field(
        ge=0,
        le=MAX_DAYS,
        description="Days to keep the provider's events (0: forever); null: the default",
    )


class ProviderRetentionOut(BaseModel):
    provider: str
    days: int = Field(description="Effective retention in days; 0: forever")
    override: bool = Field(description="False: the default (FLOWSCOPE_RETENTION_DAYS)")
    purged_before: datetime | None = Field(
        description="Events before this were deleted; ingest refuses them for good"
    )


class RetentionList(BaseModel):
    default_days: int
    providers: list[ProviderRetentionOut]
