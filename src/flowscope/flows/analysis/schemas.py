"""What the flow analysis returns: the JSON routes' response models and what the pages render.

The services build these directly, so `/api/docs` shows the real shapes, mypy checks what the
templates receive, and the HTML pages and their JSON twins cannot drift apart. Field names and
order are the JSON keys clients already read; do not rename them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowscope.flows.analysis.states import State
from flowscope.flows.correlation.models import FlowBuild

# Fewer flows than this in the timeframe before, and a change in % says more about chance
# than about the business (+29,475 % from 2 flows): the pages show the previous value.
MIN_BASELINE = 20


class _Out(BaseModel):
    # `populate_by_name`: the keys `from`/`to` are Python keywords, so code sets `from_`.
    model_config = ConfigDict(populate_by_name=True)


class Window(_Out):
    """A timeframe `[from, to)`: instances that started in it."""

    from_: datetime = Field(alias="from")
    to: datetime


class BuildStatus(_Out):
    """One build of a flow version: `building` (with its progress), `ready` or `retired`."""

    id: int
    version: int
    state: str
    events_done: int
    events_total: int
    created_at: datetime
    ready_at: datetime | None

    @classmethod
    def of(cls, build: FlowBuild) -> BuildStatus:
        return cls(
            id=build.id,
            version=build.version,
            state=build.state,
            events_done=build.events_done,
            events_total=build.events_total,
            created_at=build.created_at,
            ready_at=build.ready_at,
        )


class Builds(_Out):
    version: int = Field(description="the flow's current definition version")
    builds: list[BuildStatus] = Field(description="newest first")


class Kpis(_Out):
    """The KPIs of the instances that started in a timeframe; durations of completed ones."""

    started: int
    completed: int
    revenue: float
    exceptions: int
    avg_duration_s: float | None
    median_duration_s: float | None
    p90_duration_s: float | None
    conversion: float | None = Field(description="completed / started")
    exception_rate: float | None = Field(description="exceptions / started")


class KpiChange(_Out):
    """Per KPI, the change in % against the timeframe before (None: nothing to compare)."""

    started: float | None
    completed: float | None
    revenue: float | None
    exceptions: float | None
    avg_duration_s: float | None
    median_duration_s: float | None
    p90_duration_s: float | None
    conversion: float | None
    exception_rate: float | None


class Outcomes(_Out):
    """Conversion and durations of the flows of a timeframe old enough to have finished
    (started before `Settled.started_before`), so that a young window is not read as a bad
    one only because its flows are still running."""

    flows: int
    completed: int
    conversion: float | None = Field(description="completed / flows")
    avg_duration_s: float | None
    median_duration_s: float | None
    p90_duration_s: float | None


class OutcomeChange(_Out):
    conversion: float | None
    avg_duration_s: float | None


class Settled(_Out):
    """Conversion and duration compared like with like: only flows old enough to have
    finished count, in both timeframes."""

    age_s: float | None = Field(
        description="a flow counts once it is this old: the longest drop timeout of the "
        "definition; None when it has none, and then every flow counts"
    )
    started_before: datetime
    current: Outcomes
    previous: Outcomes
    change_pct: OutcomeChange


class KpiComparison(_Out):
    current: Kpis
    previous: Kpis
    change_pct: KpiChange
    settled: Settled | None = None
    min_baseline: int = Field(
        default=MIN_BASELINE,
        description="below this many flows in the timeframe before, a change in % means "
        "little: the pages show the previous value instead",
    )


class StateCounts(_Out):
    completed: int
    in_progress: int
    stalled: int
    dropped: int


class StepFigures(_Out):
    """One step: instances that reached it; of those, the ones at it now in progress,
    stalled or dropped, the ones with an exception there, and the completed ones."""

    key: str
    name: str
    optional: bool
    reached: int
    with_exception: int
    in_progress: int
    stalled: int
    dropped: int
    completed: int


class EdgeFigures(_Out):
    """Observed transitions from `source` to `target` and the wait between them."""

    source: str
    target: str
    flows: int
    transitions: int
    median_delay_s: float | None
    p90_delay_s: float | None
    declared: bool = Field(description="the definition has this edge")


class FlowRef(_Out):
    slug: str
    name: str


class FlowAnalysis(_Out):
    """Everything the flow page shows for a timeframe. `kpis`/`states` are None and the lists
    empty until the flow's first build is ready."""

    flow: FlowRef
    version: int | None = Field(description="the definition version of the results shown")
    build: BuildStatus | None = Field(description="the newest build, of any state")
    results_as_of: datetime | None = Field(
        default=None,
        description="every event committed before this time is in the figures (the snapshot "
        "of the correlator's last run for the build shown)",
    )
    window: Window
    previous_window: Window
    now: datetime
    kpis: KpiComparison | None
    states: StateCounts | None
    steps: list[StepFigures]
    edges: list[EdgeFigures]


class Trend(_Out):
    """Started and completed instances per equal slice (`bucket_s` seconds) of the window."""

    bucket_s: float
    started: list[int]
    completed: list[int]


class FlowOverview(_Out):
    slug: str
    name: str
    description: str
    steps: int
    revenue_label: str | None
    revenue_currency: str | None = Field(default=None, description="ISO 4217 code, if set")
    build: BuildStatus | None
    kpis: KpiComparison | None
    trend: Trend | None
    results_as_of: datetime | None = Field(
        default=None,
        description="every event committed before this time is in the figures (the snapshot "
        "of the correlator's last run for the build shown)",
    )


class FlowsOverview(_Out):
    window: Window
    previous_window: Window
    now: datetime
    flows: list[FlowOverview]


class InstanceRow(_Out):
    """One unique flow in a list: its state now and what the drill-down filters on."""

    correlation_id: str
    state: State
    has_exception: bool
    exception_step: str | None
    exception_name: str | None
    current_step: str
    started_at: datetime
    last_event_at: datetime
    completed_at: datetime | None
    duration_s: float
    event_count: int
    revenue: float | None
    properties: dict[str, Any]


class InstancePage(_Out):
    items: list[InstanceRow]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    build: BuildStatus | None = Field(
        description="the build the items come from; None until the flow's first build is ready"
    )


class InstanceSummary(_Out):
    """One unique flow with everything stored about it."""

    correlation_id: str
    started_at: datetime
    last_event_at: datetime
    duration_s: float
    event_count: int
    current_step: str
    completed_at: datetime | None
    stall_at: datetime | None
    drop_at: datetime | None
    has_exception: bool
    exception_step: str | None
    exception_name: str | None
    properties: dict[str, Any]
    revenue: float | None
    variant: list[str]
    state: State


class TimelineEvent(_Out):
    seq: int
    timestamp: datetime
    step: str
    exception: str | None
    provider: str
    type: str
    event_id: str
    received_at: datetime
    attributes: dict[str, Any]
    delta_s: float | None = Field(description="seconds since the previous event")
    step_name: str


class Timeline(_Out):
    instance: InstanceSummary
    events: list[TimelineEvent]
    longest_gap_index: int | None = Field(description="the event after the longest wait")


class VariantFigures(_Out):
    steps: list[str]
    count: int
    avg_duration_s: float | None
    completed: int
    share: float


class SkippedStep(_Out):
    step: str
    count: int
    examples: list[str]


class OutOfOrder(_Out):
    from_: str | None = Field(alias="from", description="None: the flow began at `to`")
    to: str
    count: int
    examples: list[str]


class Conformance(_Out):
    conformant: int
    skipped: int
    out_of_order: int
    skipped_steps: list[SkippedStep]
    out_of_order_transitions: list[OutOfOrder]


class Variants(_Out):
    total: int
    distinct: int
    variants: list[VariantFigures]
    conformance: Conformance | None
