"""The simulation: which flows start when, and every event each of them will ever send.

Pure and deterministic: no database, no clock. A flow is a function of (seed, hour, index):
the hour's random stream decides how many flows start in that UTC hour and when; each flow's own
stream (seeded by its correlation id) decides its path, attributes and delays. So the events of a
time window are the same whether they are generated in one backfill or in many small runs, and
re-running a window yields the same event ids (the store skips them as duplicates).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flowscope.generator.schemas import GeneratorConfig, StepConfig

_EVENT_NAMESPACE = uuid.UUID("9d3c7a52-5f0e-4c8e-9a57-0e8f6f0b5a11")
_HOUR = timedelta(hours=1)
# Consecutive steps are at least this far apart, so a flow's events have a strict order in time.
_MIN_GAP = timedelta(seconds=1)
# Hour-to-hour variation of the volume, so charts look like traffic rather than a ruler.
_JITTER = 0.15


@dataclass(frozen=True, slots=True)
class GeneratedEvent:
    provider: str
    event_id: str
    type: str
    timestamp: datetime
    attributes: dict[str, Any]
    flow_id: str
    step_key: str


def floor_hour(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def flow_starts(config: GeneratorConfig, hour: datetime) -> list[tuple[str, datetime]]:
    """(correlation id, start time) of every flow starting in the UTC `hour`, in time order."""
    rng = random.Random(f"{config.seed}/starts/{int(hour.timestamp())}")  # noqa: S311 - simulation
    local_hour = hour.astimezone(ZoneInfo(config.timezone)).hour
    mean = config.volume * config.time_of_day[local_hour] * rng.uniform(1 - _JITTER, 1 + _JITTER)
    count = int(mean) + (1 if rng.random() < mean - int(mean) else 0)
    offsets = sorted(rng.randrange(3_600_000) for _ in range(count))
    stamp = hour.strftime("%y%m%d%H")
    return [
        (f"{config.id_prefix}-{stamp}-{i:05d}", hour + timedelta(milliseconds=ms))
        for i, ms in enumerate(offsets)
    ]


def flows_in_window(
    config: GeneratorConfig, start: datetime, end: datetime
) -> Iterator[list[GeneratedEvent]]:
    """Every flow that starts in (start, end], each as all its events, future ones included."""
    hour = floor_hour(start)
    while hour <= end:
        for flow_id, t0 in flow_starts(config, hour):
            if start < t0 <= end:
                yield simulate_flow(config, flow_id, t0)
        hour += _HOUR


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = target
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


class _Flow:
    """One flow instance being simulated: its random stream and per-flow choices."""

    def __init__(self, config: GeneratorConfig, flow_id: str, t0: datetime) -> None:
        self.config = config
        self.flow_id = flow_id
        self.rng = random.Random(f"{config.seed}/flow/{flow_id}")  # noqa: S311 - simulation
        self.time = t0
        self.events: list[GeneratedEvent] = []
        self.occurrences: dict[str, int] = {}
        self.location = self._pick(config.locations.values) if config.locations else None
        self.segment = self._pick(config.segment.values) if config.segment else None
        revenue = config.revenue
        self.revenue = round(self.rng.uniform(revenue.min, revenue.max), 2) if revenue else None

    def _pick(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def advance(self, step: StepConfig) -> None:
        hours = self.rng.uniform(step.min_hours, step.max_hours)
        self.time += max(timedelta(seconds=round(hours * 3600, 3)), _MIN_GAP)

    def emit(self, step: StepConfig, event_type: str) -> None:
        key = step.step_key
        occurrence = self.occurrences.get(key, 0)
        self.occurrences[key] = occurrence + 1
        slot = f"{self.config.seed}/{self.flow_id}/{key}/{occurrence}"
        event_id = str(uuid.uuid5(_EVENT_NAMESPACE, slot))
        attributes: dict[str, Any] = {}
        for path, value in step.attributes.items():
            _put(attributes, path, self.rng.choice(value) if isinstance(value, list) else value)
        cfg = self.config
        if cfg.locations and self.location is not None and key in cfg.locations.steps:
            _put(attributes, cfg.locations.attribute, self.location)
        if cfg.segment and self.segment is not None and key in cfg.segment.steps:
            _put(attributes, cfg.segment.attribute, self.segment)
        if cfg.revenue and self.revenue is not None and key in cfg.revenue.steps:
            _put(attributes, cfg.revenue.attribute, self.revenue)
        if step.service or step.host:
            if step.service:
                _put(attributes, "service.name", step.service)
            if step.host:
                _put(attributes, "host.name", step.host)
            trace = hashlib.blake2b(slot.encode(), digest_size=16, person=b"flowscope-trace")
            _put(attributes, "trace.id", trace.hexdigest())
        _put(attributes, cfg.correlation, self.flow_id)
        self.events.append(
            GeneratedEvent(
                provider=cfg.provider,
                event_id=event_id,
                type=event_type,
                timestamp=self.time,
                attributes=attributes,
                flow_id=self.flow_id,
                step_key=key,
            )
        )


def simulate_flow(config: GeneratorConfig, flow_id: str, t0: datetime) -> list[GeneratedEvent]:
    """The path of one flow.

    At each step one draw decides its fate, so the configured rates hold among the flows that
    reach the step: below the exception share the step's event is replaced by
    `<type>.<exception>` and the flow ends; in the next `drop_percent` the flow ends after the
    step; otherwise it goes on after a delay between `min_hours` and `max_hours`. An optional
    step is taken by `optional_percent` of the flows that get there, else skipped without delay.
    """
    flow = _Flow(config, flow_id, t0)
    rng = flow.rng
    steps = config.steps
    exceptions: dict[str, list[tuple[str, float]]] = {}
    for exc in config.exceptions:
        exceptions.setdefault(exc.step, []).append((exc.name, exc.percent))
    index = 0
    while True:
        step = steps[index]
        draw = rng.random() * 100
        threshold = 0.0
        failed = None
        for name, percent in exceptions.get(step.step_key, ()):
            threshold += percent
            if draw < threshold:
                failed = name
                break
        if failed is not None:
            flow.emit(step, f"{step.type}.{failed}")
            break
        flow.emit(step, step.type)
        if step.loop is not None:
            for _ in range(step.loop.max):
                if rng.random() * 100 >= step.loop.percent:
                    break
                flow.advance(step)
                flow.emit(step, step.type)
        if index == len(steps) - 1 or draw < threshold + step.drop_percent:
            break
        flow.advance(step)
        index += 1
        # The last step is never optional (validated), so this stops.
        while (p := steps[index].optional_percent) is not None and rng.random() * 100 >= p:
            index += 1
    return flow.events
