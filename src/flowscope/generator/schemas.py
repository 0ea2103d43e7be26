"""Generator configuration: the YAML an editor writes, validated with messages that name the field.

Example (abridged; full ones under `generator/templates/`):

    name: Online order fulfillment
    provider: shop.orders.v001
    correlation: order.id
    id_prefix: ORD
    seed: 42
    volume: 120                  # flows per hour at time-of-day weight 1.0
    schedule: {every: 5m}        # or {cron: "*/5 * * * *"} (UTC)
    backfill: 24h                # history written on the first run, at most 30d
    steps:
      - {name: Order placed, type: order.placed, drop_percent: 3, min_hours: 0.05, max_hours: 0.5,
         service: checkout, host: web-01}
      - {name: Payment, type: payment.captured, loop: {max: 2, percent: 10}, ...}
      - {name: Gift wrap, type: order.giftwrapped, optional_percent: 15, ...}
    exceptions: [{name: declined, step: payment.captured, percent: 4}]
    locations: {attribute: store.city, steps: [order.placed], values: {Berlin: 3, Hamburg: 2}}
    segment: {attribute: customer.tier, steps: [order.placed], values: {gold: 1, silver: 3}}
    revenue: {attribute: order.value, steps: [order.placed], min: 15, max: 450}
    time_of_day: [0.2, 0.1, ...]   # 24 weights, hour 0 first, in `timezone`

Steps are referred to by `key`, which defaults to the step's event type.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowscope.flows.definitions.schemas import KEY, SLUG, Duration

MAX_BACKFILL = timedelta(days=30)
RESERVED_ROOTS = frozenset({"event", "timestamp"})
_SLUGIFY = re.compile(r"[^a-z0-9]+")

Percent = Annotated[float, Field(ge=0, le=100)]
Hours = Annotated[float, Field(ge=0, le=24 * 30)]
Scalar = str | int | float | bool


def slugify(text: str) -> str:
    slug = _SLUGIFY.sub("-", text.lower()).strip("-")[:63]
    return slug or "generator"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Loop(_Model):
    """A step that may repeat (a retried payment, a second crew visit)."""

    max: int = Field(ge=1, le=20, description="repeats at most this often")
    percent: Percent = Field(description="chance of each further repeat")


class StepConfig(_Model):
    name: str = Field(min_length=1, max_length=128)
    type: str = Field(min_length=1, max_length=200)
    key: str | None = Field(default=None, pattern=KEY)
    drop_percent: Percent = 0
    min_hours: Hours = 0
    max_hours: Hours = 0
    optional_percent: Percent | None = Field(
        default=None, description="the step is optional and taken by this % of flows"
    )
    loop: Loop | None = None
    service: str | None = Field(default=None, max_length=128)
    host: str | None = Field(default=None, max_length=128)
    attributes: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict, description="extra attributes: a value, or a list to pick from"
    )

    @property
    def step_key(self) -> str:
        return self.key or self.type[:64]

    @model_validator(mode="after")
    def _delays(self) -> StepConfig:
        if self.min_hours > self.max_hours:
            raise ValueError(f"step {self.name!r}: min_hours is larger than max_hours")
        for path, value in self.attributes.items():
            if isinstance(value, list) and not value:
                raise ValueError(f"step {self.name!r}: attribute {path!r} has an empty list")
        return self


class WeightedAttribute(_Model):
    """A value picked once per flow by weight, written on the listed steps."""

    attribute: str = Field(min_length=1, max_length=200)
    label: str | None = Field(default=None, max_length=128)
    steps: list[str] = Field(min_length=1)
    values: dict[str, float] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _weights(cls, values: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in values.values()):
            raise ValueError("weights must not be negative")
        if not any(w > 0 for w in values.values()):
            raise ValueError("at least one weight must be positive")
        return values


class RevenueConfig(_Model):
    attribute: str = Field(min_length=1, max_length=200)
    steps: list[str] = Field(min_length=1)
    min: float = Field(ge=0)
    max: float = Field(ge=0)
    label: str = "Revenue"

    @model_validator(mode="after")
    def _range(self) -> RevenueConfig:
        if self.min > self.max:
            raise ValueError("revenue: min is larger than max")
        return self


class ExceptionConfig(_Model):
    """Ends the flow at `step` with the event type `<step type>.<name>`."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    step: str
    percent: Percent


class Schedule(_Model):
    every: Duration | None = None
    cron: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give either `every` (e.g. 5m) or `cron` (e.g. */5 * * * *)")
        if self.every is not None and self.every < timedelta(seconds=30):
            raise ValueError("`every` must be at least 30s")
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r} is not valid: {exc}") from None
        return self

    def describe(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron} (UTC)"
        assert self.every is not None  # noqa: S101 - guaranteed by the validator
        return f"every {_short(self.every)}"


def _short(value: timedelta) -> str:
    from flowscope.flows.definitions.schemas import format_duration

    return format_duration(value)


def _default_schedule() -> Schedule:
    return Schedule(every=timedelta(minutes=5))


class GeneratorConfig(_Model):
    name: str = Field(min_length=1, max_length=128)
    slug: str | None = Field(default=None, pattern=SLUG)
    description: str = ""
    provider: str = Field(min_length=1, max_length=200)
    correlation: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_]+(\.\w+)*$")
    id_prefix: str = Field(default="F", min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")
    seed: int = 1
    volume: float = Field(default=60, ge=0, le=100_000)
    timezone: str = "UTC"
    time_of_day: list[Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: [1.0] * 24, min_length=24, max_length=24
    )
    schedule: Schedule = Field(default_factory=_default_schedule)
    backfill: Duration = timedelta(hours=24)
    steps: list[StepConfig] = Field(min_length=2, max_length=50)
    exceptions: list[ExceptionConfig] = Field(default_factory=list)
    locations: WeightedAttribute | None = None
    segment: WeightedAttribute | None = None
    revenue: RevenueConfig | None = None

    @property
    def flow_slug(self) -> str:
        return self.slug or slugify(self.name)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone such as UTC or Europe/Berlin") from None
        return value

    @field_validator("backfill")
    @classmethod
    def _backfill(cls, value: timedelta) -> timedelta:
        if value > MAX_BACKFILL:
            raise ValueError("backfill is at most 30d")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GeneratorConfig:
        if not any(w > 0 for w in self.time_of_day):
            raise ValueError("time_of_day: at least one hour must have a positive weight")
        keys: dict[str, StepConfig] = {}
        for step in self.steps:
            if step.step_key in keys:
                raise ValueError(f"steps: key {step.step_key!r} is used twice (set `key`)")
            keys[step.step_key] = step
        types = [s.type for s in self.steps]
        if len(set(types)) != len(types):
            raise ValueError("steps: each step needs its own event type")
        first, last = self.steps[0], self.steps[-1]
        if first.optional_percent is not None:
            raise ValueError(f"steps: the first step {first.name!r} cannot be optional")
        if last.optional_percent is not None:
            raise ValueError(f"steps: the last step {last.name!r} cannot be optional")
        if last.drop_percent:
            raise ValueError(f"steps: flows end at the last step {last.name!r}: drop_percent is 0")
        self._check_refs(keys)
        self._check_paths()
        return self

    def _check_refs(self, keys: dict[str, StepConfig]) -> None:
        def known(where: str, key: str) -> None:
            if key not in keys:
                raise ValueError(f"{where}: unknown step {key!r} (use a step's key or event type)")

        exception_share: dict[str, float] = {}
        for exc in self.exceptions:
            known(f"exception {exc.name!r}", exc.step)
            exception_share[exc.step] = exception_share.get(exc.step, 0) + exc.percent
        names = [(e.step, e.name) for e in self.exceptions]
        if len(set(names)) != len(names):
            raise ValueError("exceptions: a step lists the same exception twice")
        for key, share in exception_share.items():
            if share + keys[key].drop_percent > 100:
                raise ValueError(f"step {key!r}: drop and exception percentages exceed 100")
        for where, group in (("locations", self.locations), ("segment", self.segment)):
            for key in group.steps if group else []:
                known(where, key)
        for key in self.revenue.steps if self.revenue else []:
            known("revenue", key)

    def _check_paths(self) -> None:
        """Attributes are written nested (`order.id` → {"order": {"id": …}}): no path may be a
        prefix of another, or one value would overwrite the object holding the other."""
        paths = {self.correlation: "correlation"}
        for label, path in (
            ("locations", self.locations.attribute if self.locations else None),
            ("segment", self.segment.attribute if self.segment else None),
            ("revenue", self.revenue.attribute if self.revenue else None),
        ):
            if path is not None:
                paths.setdefault(path, label)
        for step in self.steps:
            for path in step.attributes:
                paths.setdefault(path, f"step {step.name!r}")
            if step.service or step.host:
                for path in ("service.name", "host.name", "trace.id"):
                    paths.setdefault(path, "IT context")
        for path, label in paths.items():
            if path.split(".")[0] in RESERVED_ROOTS:
                raise ValueError(
                    f"attribute {path!r} ({label}): names under event. and "
                    "timestamp are reserved for the event itself"
                )
        ordered = sorted(paths)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.startswith(a + "."):
                raise ValueError(
                    f"attribute {a!r} ({paths[a]}) would be overwritten by {b!r} ({paths[b]})"
                )

    def step_by_key(self) -> dict[str, StepConfig]:
        return {s.step_key: s for s in self.steps}


def describe_errors(errors: list[Any]) -> list[str]:
    """Pydantic errors as `field: message` lines for forms and the CLI."""
    lines = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines
