"""Flow definitions: the shape admins write as YAML or in forms, validated with clear messages.

Example (YAML):

    slug: online-orders
    name: Online order fulfillment
    providers: [shop.checkout, shop.logistics]
    correlation: order.id
    timeouts: {stall: 2h, drop: 24h}
    revenue: {field: order.total, step: placed}
    steps:
      - key: placed
        name: Order placed
        events: [{type: order.placed}]
        properties: [{name: loyalty, path: customer.tier}]
      - key: paid
        name: Payment captured
        events: [{type: payment.captured}]
        exceptions: [{name: payment declined, type: payment.declined}]
      - key: shipped
        name: Parcel shipped
        events: [{provider: shop.logistics, type: parcel.shipped}]
        correlation: shipment.order_ref   # this step carries the order id in another field
        timeouts: {stall: 6h, drop: 48h}
    edges:            # optional: default is the steps in order
      - {from: placed, to: paid}
      - {from: paid, to: shipped}
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from datetime import timedelta
from typing import Annotated, Any, Literal

from babel.numbers import list_currencies
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")
SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
RESERVED_SLUGS = frozenset({"manage"})
KEY = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def parse_duration(value: Any) -> timedelta:
    """`90s`, `30m`, `2h`, `1d12h`, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is text like 30m, 2h or 1d, or a number of seconds")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            d, h, m, s = (int(g) if g else 0 for g in match.groups())
            result = timedelta(days=d, hours=h, minutes=m, seconds=s)
            if result > timedelta(0):
                return result
    raise ValueError(f"{value!r} is not a duration such as 30m, 2h or 1d")


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EventMatcher(_Model):
    """An event that marks a step. `provider` defaults to any of the flow's providers."""

    provider: str | None = None
    type: str = Field(min_length=1, max_length=256)


class ExceptionRule(_Model):
    """A business exception: an event type, or a condition on an attribute of the step's events."""

    name: str = Field(min_length=1, max_length=128)
    type: str | None = None
    field: str | None = None
    op: Literal["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"] | None = None
    value: Any = None

    @model_validator(mode="after")
    def _one_kind(self) -> ExceptionRule:
        if self.type is None and self.field is None:
            raise ValueError("give an event `type`, or a `field` with an `op`")
        if self.field is not None and self.op is None:
            raise ValueError(f"exception {self.name!r}: `field` needs an `op`")
        if self.op is not None and self.field is None:
            raise ValueError(f"exception {self.name!r}: `op` needs a `field`")
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError(f"exception {self.name!r}: op `in` needs a list `value`")
        if self.op not in (None, "exists") and self.value is None:
            raise ValueError(f"exception {self.name!r}: op `{self.op}` needs a `value`")
        return self


class Property(_Model):
    """A business property captured at a step (Azure's tracking profile)."""

    name: str = Field(min_length=1, max_length=128)
    path: str = Field(min_length=1, max_length=256)
    type: Literal["string", "number", "boolean", "timestamp"] = "string"


class Timeouts(_Model):
    stall: Duration | None = None
    drop: Duration | None = None

    @model_validator(mode="after")
    def _order(self) -> Timeouts:
        if self.stall and self.drop and self.stall >= self.drop:
            raise ValueError("the stall timeout must be shorter than the drop timeout")
        return self


class Step(_Model):
    key: str = Field(pattern=KEY)
    name: str = Field(min_length=1, max_length=128)
    events: list[EventMatcher] = Field(min_length=1)
    optional: bool = False
    final: bool = False  # an end step even if it has outgoing edges
    correlation: str | None = None  # per-step override of the correlation path
    exceptions: list[ExceptionRule] = Field(default_factory=list)
    properties: list[Property] = Field(default_factory=list)
    timeouts: Timeouts | None = None


class Edge(_Model):
    source: str = Field(alias="from")
    target: str = Field(alias="to")


class Revenue(_Model):
    """What a flow earns: `{field: order.value, step: placed, currency: USD}`."""

    field: str = Field(min_length=1, max_length=256)
    step: str
    aggregate: Literal["sum", "max", "first", "last"] = "sum"
    label: str = "Revenue"
    # ISO 4217 code; None (the default, so old YAML round-trips unchanged) shows a plain amount.
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")

    @field_validator("currency", mode="before")
    @classmethod
    def _upper_currency(cls, value: Any) -> Any:
        # The form's "usd" means USD; blank means none.
        if isinstance(value, str):
            return value.strip().upper() or None
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        if value is not None and value not in list_currencies():
            raise ValueError(f"unknown ISO 4217 currency code {value!r}")
        return value


class FlowDefinition(_Model):
    slug: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=128)
    description: str = ""
    providers: list[str] = Field(min_length=1)
    correlation: str = Field(min_length=1, max_length=256)
    steps: list[Step] = Field(min_length=1, max_length=1000)
    edges: list[Edge] | None = None
    revenue: Revenue | None = None
    timeouts: Timeouts = Field(
        default_factory=lambda: Timeouts(stall=timedelta(hours=1), drop=timedelta(hours=24))
    )

    @field_validator("slug")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # /flows/manage is the editor's page: a flow of that slug could never be opened
        if value in RESERVED_SLUGS:
            raise ValueError(f"{value!r} is reserved for Flowscope's own pages")
        return value

    @field_validator("providers")
    @classmethod
    def _providers(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("providers are listed twice")
        return value

    def effective_edges(self) -> list[tuple[str, str]]:
        if self.edges is not None:
            return [(e.source, e.target) for e in self.edges]
        keys = [s.key for s in self.steps]
        return list(zip(keys, keys[1:], strict=False))

    @model_validator(mode="after")
    def _consistent(self) -> FlowDefinition:
        keys = [s.key for s in self.steps]
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                raise ValueError(f"step key {key!r} is used twice")
            seen.add(key)
        edges = self.effective_edges()
        for source, target in edges:
            for end in (source, target):
                if end not in seen:
                    raise ValueError(f"edge {source} → {target}: unknown step {end!r}")
        self._check_reachable(keys, edges)
        matchers: dict[tuple[str | None, str], str] = {}
        for step in self.steps:
            for m in step.events:
                for provider in [m.provider] if m.provider else self.providers:
                    if m.provider and m.provider not in self.providers:
                        raise ValueError(
                            f"step {step.key!r}: provider {m.provider!r} is not one of the "
                            f"flow's providers"
                        )
                    owner = matchers.setdefault((provider, m.type), step.key)
                    if owner != step.key:
                        raise ValueError(
                            f"event {provider}/{m.type} is matched by steps {owner!r} and "
                            f"{step.key!r}"
                        )
        if self.revenue and self.revenue.step not in seen:
            raise ValueError(f"revenue: unknown step {self.revenue.step!r}")
        return self

    @staticmethod
    def _check_reachable(keys: list[str], edges: list[tuple[str, str]]) -> None:
        incoming: dict[str, int] = defaultdict(int)
        following: dict[str, list[str]] = defaultdict(list)
        for source, target in edges:
            following[source].append(target)
            if source != target:
                incoming[target] += 1
        starts = [k for k in keys if incoming[k] == 0] or keys[:1]
        reached = set(starts)
        queue = deque(starts)
        while queue:
            for nxt in following[queue.popleft()]:
                if nxt not in reached:
                    reached.add(nxt)
                    queue.append(nxt)
        missing = [k for k in keys if k not in reached]
        if missing:
            raise ValueError(f"steps {', '.join(missing)} cannot be reached from a start step")
