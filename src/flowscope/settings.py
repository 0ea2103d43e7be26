"""All configuration, read once from the environment (prefix ``FLOWSCOPE_``)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from babel import Locale, UnknownLocaleError
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowscope.timeframes import DEFAULT_FROM, TimeframeError, parse_time

# Secrets that shipped with earlier versions (settings default, docker-compose fallback): anyone
# can read them, so a key equal to one of them is refused in every mode.
KNOWN_BUILT_IN_SECRETS = frozenset(
    {"development-secret-change-me", "change-me-in-production", "change-me", "changeme"}
)
MIN_SECRET_LENGTH = 32


def default_data_dir() -> Path:
    """The user's data directory, except for root.

    The embedded PostgreSQL server, when started as root, runs as its own system user and makes
    every parent of its data directory world-traversable; /root must not be opened that way.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/flowscope")
    return Path(platformdirs.user_data_dir("flowscope"))


def normalise_dsn(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWSCOPE_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts an embedded PostgreSQL."
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    secret_key: str | None = Field(
        default=None,
        description="Signs CSRF tokens and UI cookies. Unset: a random key is made on first "
        "start and kept in the database (required when FLOWSCOPE_ENV=production).",
    )
    secure_cookies: bool = False
    session_idle_minutes: int = Field(
        default=8 * 60, gt=0, description="A sign-in ends after this long without a request."
    )
    session_max_hours: int = Field(
        default=7 * 24, gt=0, description="A sign-in ends this long after it began, used or not."
    )
    login_hash_concurrency: int = Field(
        default=2,
        ge=1,
        description="Password hashes computed at once (argon2 takes 64 MiB each).",
    )
    login_queue_limit: int = Field(
        default=32, ge=0, description="Sign-ins that may wait for a hash slot; more get 503."
    )

    max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_json_depth: int = Field(default=32, gt=0)
    max_future_seconds: int = Field(default=600, ge=0)
    max_events_per_request: int = Field(default=50_000, gt=0)

    retention_days: int = Field(
        default=35,
        ge=0,
        le=36_500,
        description="Days events are kept (per provider: `flowscope retention set`; 0: "
        "forever); older events, and what was derived from them, are deleted, and refused at "
        "ingest.",
    )
    retention_batch_size: int = Field(
        default=1000, gt=0, le=100_000, description="Events deleted per retention transaction."
    )
    retention_run_seconds: float = Field(
        default=60.0, gt=0, description="Time budget of one retention run; the next continues."
    )

    query_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Statement timeout of FQL queries (notebook, API)."
    )
    query_row_cap: int = Field(default=10_000, gt=0, description="Most rows an FQL query returns.")
    query_max_columns: int = Field(
        default=200,
        ge=2,
        description="Most columns of an FQL result; further attribute keys share one JSON column.",
    )
    query_max_result_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Rows of an FQL result stop (truncated) once their JSON passes this size.",
    )
    query_default_from: str = Field(
        default=DEFAULT_FROM,
        description="Timeframe start when neither the query nor the caller sets one (-24h).",
    )

    alert_min_interval_seconds: int = Field(
        default=5,
        ge=1,
        description="Shortest evaluation interval an alert rule may have; the evaluator ticks "
        "at this period.",
    )

    locale: str = Field(
        default="en_US",
        description="Number and money format of the pages (separators, currency symbols), "
        "e.g. en_US, de_DE, fr_CH.",
    )
    trace_url: str | None = Field(
        default=None,
        description="Trace UI link for trace ids in a timeline's IT context, with {trace_id} "
        "where the id goes, e.g. https://jaeger.example/trace/{trace_id}.",
    )

    metrics_token: str | None = Field(
        default=None,
        description="When set, /metrics answers only requests with 'Authorization: Bearer "
        "<this token>' (Prometheus: authorization.credentials); unset, /metrics is open.",
    )

    pool_size: int = Field(
        default=10, gt=0, description="Connections each pool keeps (ingest and reads: two pools)."
    )
    read_pool_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long a page or query waits for a free read connection before 503.",
    )
    db_connect_timeout_seconds: int = Field(
        default=3, ge=1, description="Give up opening a database connection after this long."
    )
    db_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Ingest and /readyz answer 503 when the database has not answered by then.",
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request body not received within this time gets 408."
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="`serve` closes connections that send no full headers."
    )
    max_connections: int = Field(
        default=1000, gt=0, description="`serve` answers 503 to connections beyond this many."
    )
    keep_alive_seconds: int = Field(
        default=5, gt=0, description="`serve` closes idle keep-alive connections after this."
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server of the automations' e-mail action; unset: none."
    )
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "flowscope@localhost"
    smtp_starttls: bool = True
    automation_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Tries of one automation action before it fails."
    )
    automation_backoff_seconds: float = Field(
        default=5.0, gt=0, description="First retry delay of an action; doubles each try."
    )
    automation_backoff_max_seconds: float = Field(
        default=600.0, gt=0, description="Longest delay between two tries (Retry-After too)."
    )
    automation_timeout_seconds: float = Field(
        default=10.0, gt=0, description="An HTTP or SMTP action not answered by then is retried."
    )
    automation_dispatch_seconds: float = Field(
        default=2.0, gt=0, description="How often the dispatcher looks for due actions."
    )
    scheduler_enabled: bool = True
    demo: bool = Field(
        default=False, description="On start, load the retail generator with 24 h of history."
    )
    bootstrap_admin: bool = True
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        return normalise_dsn(value) if value else None

    @field_validator("secret_key")
    @classmethod
    def _refuse_weak_secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.strip().lower() in KNOWN_BUILT_IN_SECRETS:
            raise ValueError("is a published default; set a random value (openssl rand -hex 32)")
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"must be at least {MIN_SECRET_LENGTH} characters (openssl rand -hex 32)"
            )
        return value

    @field_validator("query_default_from")
    @classmethod
    def _a_time(cls, value: str) -> str:
        # Refused at start-up, not on every query that falls back to it.
        try:
            parse_time(value, datetime.now(UTC), "FLOWSCOPE_QUERY_DEFAULT_FROM")
        except TimeframeError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        try:
            Locale.parse(value)
        except (ValueError, UnknownLocaleError):
            raise ValueError(f"FLOWSCOPE_LOCALE: unknown locale {value!r}") from None
        return value

    @field_validator("trace_url")
    @classmethod
    def _trace_template(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # Only web links with exactly the one placeholder: the id is the one thing filled in.
        if not value.startswith(("https://", "http://")) or "{trace_id}" not in value:
            raise ValueError("FLOWSCOPE_TRACE_URL must be an http(s) URL containing {trace_id}")
        return value

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> Settings:
        # Production deployments may run several machines against one database and are
        # configured on purpose: the key is set explicitly rather than made on first start.
        if self.env == "production" and self.secret_key is None:
            raise ValueError(
                "FLOWSCOPE_SECRET_KEY must be set to a random value when FLOWSCOPE_ENV=production"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
