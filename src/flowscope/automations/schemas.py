"""Shapes of an automation: its trigger and its ordered actions (Pydantic discriminated unions).

Secret fields (`secret` header values, the Slack webhook URL, a ticket token) are write-only:
`None` or the mask `••• set` in a PUT keeps the stored value, any other text replaces it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

MASK = "••• set"
When = Literal["succeeded", "failed", "always"]
Severity = Literal["info", "warning", "critical"]
AlertChange = Literal["opened", "resolved"]
ALERT_CHANGES: tuple[AlertChange, ...] = ("opened", "resolved")
MAX_TEMPLATE = 20_000
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Template = Annotated[str, Field(max_length=MAX_TEMPLATE)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


# --- triggers --------------------------------------------------------------------------------


class AlertTrigger(_Strict):
    """An alert of the listed rules (all when empty) opened or resolved."""

    type: Literal["alert"]
    rules: list[int] = Field(default_factory=list, max_length=100)
    flows: list[Name] = Field(default_factory=list, max_length=100)
    severities: list[Severity] = Field(default_factory=list)
    on: list[AlertChange] = Field(default_factory=lambda: list(ALERT_CHANGES), min_length=1)


class ScheduleTrigger(_Strict):
    """A crontab line in UTC, or every `every_seconds`."""

    type: Literal["schedule"]
    cron: str | None = Field(default=None, max_length=128)
    every_seconds: int | None = Field(default=None, ge=1, le=31 * 86400)

    @model_validator(mode="after")
    def _one_schedule(self) -> ScheduleTrigger:
        if (self.cron is None) == (self.every_seconds is None):
            raise ValueError("set exactly one of cron and every_seconds")
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron: {exc}") from None
        return self

    def describe(self) -> str:
        return f"cron {self.cron} (UTC)" if self.cron else f"every {self.every_seconds} s"


class ManualTrigger(_Strict):
    """Only *Run now* (page or API); every automation can also be run that way."""

    type: Literal["manual"]


class FlowTrigger(_Strict):
    """Instances of `flow` that dropped, stalled or hit a business exception, optionally only
    at the listed steps (the step they were at, or the step of the exception) and exceptions."""

    type: Literal["flow"]
    flow: Name
    on: list[Literal["dropped", "stalled", "exception"]] = Field(min_length=1)
    steps: list[Name] = Field(default_factory=list, max_length=100)
    exceptions: list[Name] = Field(default_factory=list, max_length=100)


Trigger = Annotated[
    AlertTrigger | ScheduleTrigger | ManualTrigger | FlowTrigger, Field(discriminator="type")
]
TRIGGER = TypeAdapter[Trigger](Trigger)


# --- actions ---------------------------------------------------------------------------------


class _Action(_Strict):
    when: When = "succeeded"  # relative to the outcome of the last action that ran


class Header(_Strict):
    name: str
    value: str | None = Field(default=None, max_length=8192)
    secret: bool = False

    @field_validator("name")
    @classmethod
    def _token(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError("must be an HTTP header name")
        return value


class HttpAction(_Action):
    type: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: Template
    headers: list[Header] = Field(default_factory=list, max_length=50)
    body: Template = ""


class SlackAction(_Action):
    """A Slack-compatible incoming webhook: POST `{"text": …}`. The URL is the secret."""

    type: Literal["slack"]
    url: str | None = Field(default=None, max_length=2048)
    text: Template


class EmailAction(_Action):
    type: Literal["email"]
    to: list[str] = Field(min_length=1, max_length=50)
    subject: Template
    body: Template

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.match(address) or len(address) > 254:
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


class FqlAction(_Action):
    """Runs an FQL query; its rows reach the next action as `previous.result`."""

    type: Literal["fql"]
    query: Template
    time_from: str = Field(default="-1h", max_length=64)
    max_rows: int = Field(default=100, ge=1, le=1000)


class IngestAction(_Action):
    """Writes one business event: `event` renders to a JSON object as ingest accepts it."""

    type: Literal["ingest"]
    event: Template


class TicketAction(_Action):
    """A create-issue webhook shaped for Jira (`/rest/api/2/issue`) or ServiceNow
    (`/api/now/table/incident`), authenticated with a bearer `token`."""

    type: Literal["ticket"]
    system: Literal["jira", "servicenow"] = "jira"
    url: Template
    token: str | None = Field(default=None, max_length=4096)
    project: str = Field(default="", max_length=128)
    issue_type: str = Field(default="Task", max_length=64)
    summary: Template
    description: Template = ""


Action = Annotated[
    HttpAction | SlackAction | EmailAction | FqlAction | IngestAction | TicketAction,
    Field(discriminator="type"),
]
ACTIONS = TypeAdapter[list[Action]](list[Action])


class AutomationIn(_Strict):
    name: Name
    enabled: bool = True
    trigger: Trigger
    actions: list[Action] = Field(min_length=1, max_length=20)


class AutomationOut(BaseModel):
    id: int
    name: str
    enabled: bool
    trigger: dict[str, Any]
    actions: list[dict[str, Any]]
    updated_by: str


class AutomationCreated(AutomationOut):
    signing_secret: str  # shown once: the receiver's key for X-Flowscope-Signature


class StepOut(BaseModel):
    position: int
    action_type: str
    status: str
    request: dict[str, Any] | None
    response_status: int | None
    response_excerpt: str | None
    duration_ms: float | None
    attempts: int
    attempt_log: list[dict[str, Any]]
    error: str | None


class RunOut(BaseModel):
    id: int
    trigger: str
    status: str
    created_at: Any
    finished_at: Any
    steps: list[StepOut]
