"""A flow definition compiled for the correlator: event → (step, correlation id, exception).

Also the edge graph questions the correlator asks per instance: which steps end a flow, and
whether a transition follows the edges (optional steps may be skipped, required ones not).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flowscope.attributes import MISSING, correlation_id, get_path
from flowscope.flows.definitions.schemas import ExceptionRule, FlowDefinition, Step

START = "^"  # the virtual node before the first step of every instance


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return actual is not MISSING and actual is not None
    if actual is MISSING:
        return op == "ne"
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    # Ordering only between numbers (bool excluded) or between texts: no silent coercion.
    numbers = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in (actual, expected)
    )
    if not numbers and not (isinstance(actual, str) and isinstance(expected, str)):
        return False
    if op == "gt":
        return bool(actual > expected)
    if op == "gte":
        return bool(actual >= expected)
    if op == "lt":
        return bool(actual < expected)
    return bool(actual <= expected)  # lte


def _coerce(value: Any, kind: str) -> Any:
    if value is MISSING or value is None:
        return None
    if kind == "string":
        return value if isinstance(value, str) else str(value)
    if kind == "number":
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None
    if isinstance(value, str):  # timestamp
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            return None
    return None


def to_decimal(value: Any) -> Decimal | None:
    if value is MISSING or value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


@dataclass(frozen=True, slots=True)
class Match:
    step: str
    correlation_id: str
    exception: str | None
    properties: dict[str, Any] | None
    revenue: Decimal | None


@dataclass
class CompiledFlow:
    build_id: int
    flow_id: int
    version: int
    definition: FlowDefinition
    by_event: dict[tuple[str, str], tuple[Step, str | None]] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    conditions: dict[str, list[ExceptionRule]] = field(default_factory=dict)
    end_steps: frozenset[str] = frozenset()
    timeouts: dict[str, tuple[timedelta | None, timedelta | None]] = field(default_factory=dict)
    successors: dict[str, list[str]] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    _allowed: dict[str, frozenset[str]] = field(default_factory=dict)
    _skips: dict[tuple[str, str], list[str] | None] = field(default_factory=dict)

    @classmethod
    def compile(
        cls, definition: FlowDefinition, *, build_id: int, flow_id: int, version: int
    ) -> CompiledFlow:
        flow = cls(build_id=build_id, flow_id=flow_id, version=version, definition=definition)
        for step in definition.steps:
            for m in step.events:
                for provider in [m.provider] if m.provider else definition.providers:
                    flow.by_event[(provider, m.type)] = (step, None)
        # Exception events count at their step (reached, with an exception); an event type
        # that is already a step's matcher keeps that meaning.
        for step in definition.steps:
            for rule in step.exceptions:
                if rule.type is not None:
                    for provider in definition.providers:
                        flow.by_event.setdefault((provider, rule.type), (step, rule.name))
            flow.conditions[step.key] = [r for r in step.exceptions if r.field is not None]
            flow.paths[step.key] = step.correlation or definition.correlation
            own = step.timeouts
            flow.timeouts[step.key] = (
                (own.stall if own and own.stall else None) or definition.timeouts.stall,
                (own.drop if own and own.drop else None) or definition.timeouts.drop,
            )
        edges = definition.effective_edges()
        flow.successors = {s.key: [] for s in definition.steps}
        incoming: set[str] = set()
        for source, target in edges:
            flow.successors[source].append(target)
            if source != target:
                incoming.add(target)
        keys = [s.key for s in definition.steps]
        starts = [k for k in keys if k not in incoming] or keys[:1]
        flow.successors[START] = starts
        has_exit = {source for source, target in edges if source != target}
        flow.end_steps = frozenset(
            s.key for s in definition.steps if s.final or s.key not in has_exit
        )
        flow.optional = frozenset(s.key for s in definition.steps if s.optional)
        return flow

    @property
    def providers(self) -> list[str]:
        return self.definition.providers

    @property
    def attribute_paths(self) -> list[str]:
        """Every attribute path `match` reads: all it needs of an event's attributes."""
        paths = set(self.paths.values())
        for step in self.definition.steps:
            paths.update(str(rule.field) for rule in self.conditions[step.key])
            paths.update(prop.path for prop in step.properties)
        if self.definition.revenue is not None:
            paths.add(self.definition.revenue.field)
        return sorted(paths)

    def match(self, provider: str, type_: str, attributes: dict[str, Any]) -> Match | None:
        found = self.by_event.get((provider, type_))
        if found is None:
            return None
        step, exception = found
        exception_event = exception is not None
        cid = correlation_id(get_path(attributes, self.paths[step.key]))
        if cid is None:
            return None
        if exception is None:
            for rule in self.conditions[step.key]:
                # `conditions` holds only rules with a field and an op (checked by the schema).
                if _compare(get_path(attributes, str(rule.field)), str(rule.op), rule.value):
                    exception = rule.name
                    break
        props: dict[str, Any] | None = None
        for prop in step.properties:
            value = _coerce(get_path(attributes, prop.path), prop.type)
            if value is not None:
                props = props or {}
                props[prop.name] = value
        revenue = None
        rev = self.definition.revenue
        # An exception *event* (payment.declined) is not the step's business event: it brings
        # no revenue. A step event flagged by a condition still does.
        if rev is not None and rev.step == step.key and not exception_event:
            revenue = to_decimal(get_path(attributes, rev.field))
        return Match(step.key, cid, exception, props, revenue)

    def allowed(self, source: str) -> frozenset[str]:
        """Steps that may follow `source`: along an edge, skipping only optional steps."""
        cached = self._allowed.get(source)
        if cached is not None:
            return cached
        result: set[str] = set()
        seen: set[str] = set()
        queue = deque(self.successors.get(source, []))
        while queue:
            node = queue.popleft()
            if node in seen:
                continue
            seen.add(node)
            result.add(node)
            if node in self.optional:
                queue.extend(self.successors[node])
        self._allowed[source] = frozenset(result)
        return self._allowed[source]

    def skipped_between(self, source: str, target: str) -> list[str] | None:
        """Required steps on the shortest edge path source → target; None if there is no path."""
        key = (source, target)
        if key in self._skips:
            return self._skips[key]
        parents: dict[str, str] = {}
        queue = deque([source])
        found = False
        while queue and not found:
            node = queue.popleft()
            for nxt in self.successors.get(node, []):
                if nxt not in parents and nxt != source:
                    parents[nxt] = node
                    if nxt == target:
                        found = True
                        break
                    queue.append(nxt)
        result: list[str] | None = None
        if found:
            path: list[str] = []
            node = parents[target]
            while node != source:
                path.append(node)
                node = parents[node]
            result = [k for k in reversed(path) if k not in self.optional]
        self._skips[key] = result
        return result

    def deviations(self, variant: list[str]) -> tuple[list[str], list[str]]:
        """Conformance of a step sequence to the edges: the required steps it jumped over
        (on the shortest edge path of each jump), and its transitions that no edge path
        allows, as "a>b" ("^>b": it began at a step that is not a start step)."""
        skipped: list[str] = []
        wrong: list[str] = []
        previous = START
        for step in variant:
            if step not in self.allowed(previous):
                between = self.skipped_between(previous, step)
                if between is None:
                    label = f"{previous}>{step}"
                    if label not in wrong:
                        wrong.append(label)
                else:
                    skipped.extend(k for k in between if k not in skipped)
            previous = step
        return skipped, wrong
