"""The flow definition a generator creates for its process, so the analyst starts with a flow."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.flows.definitions.models import Flow
from flowscope.flows.definitions.schemas import (
    Edge,
    EventMatcher,
    ExceptionRule,
    FlowDefinition,
    Property,
    Revenue,
    Step,
    Timeouts,
)
from flowscope.flows.definitions.service import save_flow
from flowscope.generator.schemas import GeneratorConfig, StepConfig

# Called once, in the same transaction, right after a generator created its flow definition.
# The hooks are passed in by whoever runs the generator (`flowscope.wiring` gives the app and
# the CLI the dashboards' template-dashboard builder), so the generator does not depend on
# dashboards and a hook runs only for flows the generator created.
FlowCreatedHook = Callable[[Session, FlowDefinition, GeneratorConfig], None]


def _properties(config: GeneratorConfig, step: StepConfig) -> list[Property]:
    key = step.step_key
    props = []
    if config.locations and key in config.locations.steps:
        props.append(
            Property(name=config.locations.label or "Location", path=config.locations.attribute)
        )
    if config.segment and key in config.segment.steps:
        props.append(
            Property(name=config.segment.label or "Segment", path=config.segment.attribute)
        )
    if config.revenue and key in config.revenue.steps:
        props.append(
            Property(name=config.revenue.label, path=config.revenue.attribute, type="number")
        )
    return props


def _edges(config: GeneratorConfig) -> list[Edge] | None:
    """Explicit edges only when the path is not simply the steps in order: skips around
    optional steps and self-edges for steps that loop."""
    steps = config.steps
    if not any(s.optional_percent is not None or s.loop for s in steps):
        return None
    edges: list[Edge] = []
    for i, step in enumerate(steps):
        if step.loop:
            edges.append(Edge(source=step.step_key, target=step.step_key))
        for target in steps[i + 1 :]:
            edges.append(Edge(source=step.step_key, target=target.step_key))
            if target.optional_percent is None:
                break
    return edges


def _hours(value: float) -> timedelta:
    return timedelta(hours=max(1, math.ceil(value)))


def _step_timeouts(max_hours: float) -> Timeouts | None:
    """A flow at a step waits at most `max_hours` for its next event: later than that it is
    stalled, and at twice that it has dropped. Drops then show within the first backfilled day,
    where the analyst's journey looks for them (the flow's own timeouts cover the rest)."""
    if max_hours <= 0:
        return None
    stall = timedelta(minutes=max(5, math.ceil(max_hours * 60)))
    return Timeouts(stall=stall, drop=stall * 2)


def flow_definition(config: GeneratorConfig) -> FlowDefinition:
    per_step: dict[str, list[ExceptionRule]] = {}
    by_key = config.step_by_key()
    for exc in config.exceptions:
        step = by_key[exc.step]
        rule = ExceptionRule(name=exc.name, type=f"{step.type}.{exc.name}")
        per_step.setdefault(exc.step, []).append(rule)
    steps = [
        Step(
            key=s.step_key,
            name=s.name,
            events=[EventMatcher(type=s.type)],
            optional=s.optional_percent is not None,
            exceptions=per_step.get(s.step_key, []),
            properties=_properties(config, s),
            timeouts=_step_timeouts(s.max_hours),
        )
        for s in config.steps
    ]
    revenue = None
    if config.revenue:
        first = next(s.step_key for s in config.steps if s.step_key in config.revenue.steps)
        revenue = Revenue(
            field=config.revenue.attribute,
            step=first,
            aggregate="first",
            label=config.revenue.label,
        )
    # Timeouts from the slowest configured gap: a flow waiting that long is on time, not stuck.
    longest = max(s.max_hours for s in config.steps)
    stall = _hours(longest)
    return FlowDefinition(
        slug=config.flow_slug,
        name=config.name,
        description=config.description or f"Created by the generator for {config.provider}.",
        providers=[config.provider],
        correlation=config.correlation,
        steps=steps,
        edges=_edges(config),
        revenue=revenue,
        timeouts=Timeouts(stall=stall, drop=stall * 2),
    )


def ensure_flow(
    session: Session, config: GeneratorConfig, on_flow_created: Sequence[FlowCreatedHook] = ()
) -> bool:
    """Create the generator's flow definition unless a flow with its slug exists (an analyst
    may have edited it since: it is never overwritten), then call `on_flow_created`. Returns
    whether it was created."""
    if session.scalar(select(Flow.id).where(Flow.slug == config.flow_slug)) is not None:
        return False
    definition = flow_definition(config)
    save_flow(session, definition, changed_by="generator")
    for hook in on_flow_created:
        hook(session, definition, config)
    return True
