"""Drill-downs: the instances of a flow (filtered, keyset-paginated, counted) and the variants
of a flow with their conformance to the edges. One instance's timeline: `timeline`."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.errors import FlowscopeError
from flowscope.flows.analysis import rollup_reads
from flowscope.flows.analysis.context import FlowContext
from flowscope.flows.analysis.schemas import (
    BuildStatus,
    Conformance,
    InstancePage,
    InstanceRow,
    OutOfOrder,
    SkippedStep,
    VariantFigures,
    Variants,
)
from flowscope.flows.analysis.states import state_sql, state_where
from flowscope.flows.correlation.matching import START, CompiledFlow

Status = Literal["completed", "in_progress", "stalled", "dropped", "exception"]
Sort = Literal["last_activity", "duration", "revenue"]
STATUSES: tuple[Status, ...] = get_args(Status)
SORTS: tuple[Sort, ...] = get_args(Sort)

# Every sort is descending with the correlation id as tie-breaker, so the order is total and
# stable and the keyset condition is one row comparison. Missing revenue sorts last.
_SORT_SQL: dict[str, tuple[str, str]] = {
    "last_activity": ("i.last_event_at", "timestamptz"),
    "duration": ("i.duration_s", "float8"),
    "revenue": ("coalesce(i.revenue, '-Infinity'::numeric)", "numeric"),
}
MAX_LIMIT = 500


def encode_cursor(sort: str, key: Any, correlation_id: str) -> str:
    value = key.isoformat() if isinstance(key, datetime) else str(key)
    raw = orjson.dumps({"s": sort, "k": value, "c": correlation_id})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[str, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort:
            raise FlowscopeError("cursor: it belongs to another sort order; start again")
        return str(data["k"]), str(data["c"])
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise FlowscopeError("cursor: not a cursor returned by this list") from exc


def parse_property_filters(values: list[str]) -> list[tuple[str, str]]:
    result = []
    for value in values:
        name, sep, wanted = value.partition(":")
        if not sep or not name:
            raise FlowscopeError(f"property: {value!r} is not in the form name:value")
        result.append((name, wanted))
    return result


def parse_status(value: str) -> Status | None:
    """The status of a form field or query parameter; "" is none."""
    for status in STATUSES:
        if value == status:
            return status
    if value:
        raise FlowscopeError(f"status: must be one of {', '.join(STATUSES)}")
    return None


def parse_sort(value: str) -> Sort:
    for sort in SORTS:
        if value == sort:
            return sort
    raise FlowscopeError(f"sort: must be one of {', '.join(SORTS)}")


@dataclass(frozen=True)
class InstanceFilter:
    """Which instances a list shows, and in which order.

    `step` alone: instances that reached the step. With a status `in_progress`, `stalled` or
    `dropped`: instances that are at that step (their last event's step) in that state. With
    `exception`: instances with a business exception at that step. `q`: the correlation id
    contains it (case-insensitive). `properties`: captured property equals the value (as text).
    `start`/`end`: started in `[start, end)`.
    """

    step: str | None = None
    status: Status | None = None
    q: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    sort: Sort = "last_activity"
    start: datetime | None = None
    end: datetime | None = None


def list_instances(
    session: Session,
    flow: FlowContext,
    filters: InstanceFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> InstancePage:
    """Instances of the flow matching `filters`, newest activity (or longest, or highest
    revenue) first, one keyset page at a time."""
    now = now or datetime.now(UTC)
    sort = filters.sort
    if not 1 <= limit <= MAX_LIMIT:
        raise FlowscopeError(f"limit: must be between 1 and {MAX_LIMIT}")
    if sort not in _SORT_SQL:
        raise FlowscopeError(f"sort: must be one of {', '.join(_SORT_SQL)}")
    _check_step(flow, filters.step)
    build = flow.build
    if build is None:
        return InstancePage(items=[], next_cursor=None, build=None)
    where, params = _matching(build.id, filters, now)
    params["limit"] = limit + 1
    key_sql, key_type = _SORT_SQL[sort]
    if cursor:
        params["ck"], params["cc"] = decode_cursor(cursor, sort)
        where.append(f"({key_sql}, i.correlation_id) < (cast(:ck as {key_type}), :cc)")
    sql = f"""
        select i.correlation_id, {state_sql("i")} as state, i.has_exception, i.exception_step,
               i.exception_name, i.current_step, i.started_at, i.last_event_at, i.completed_at,
               i.duration_s, i.event_count, i.revenue::float8 as revenue, i.properties,
               {key_sql} as sort_key
        from flow_instances i
        where {" and ".join(where)}
        order by {key_sql} desc, i.correlation_id desc
        limit :limit
    """  # noqa: S608 - fragments are constants; values are bound parameters
    rows = [dict(r) for r in session.execute(text(sql), params).mappings()]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(sort, rows[-1]["sort_key"], rows[-1]["correlation_id"])
    for r in rows:
        r.pop("sort_key")
    return InstancePage(
        items=[InstanceRow(**r) for r in rows],
        next_cursor=next_cursor,
        build=BuildStatus.of(build),
    )


def count_instances(
    session: Session, flow: FlowContext, filters: InstanceFilter, *, now: datetime | None = None
) -> int | None:
    """How many instances match `filters` across all pages (the sort does not matter), or
    None before the flow's first build. The drill-down shows it above the first page."""
    _check_step(flow, filters.step)
    if flow.build is None:
        return None
    now = now or datetime.now(UTC)
    start, end = filters.start, filters.end
    if start is not None and end is not None and not filters.q and not filters.properties:
        return _count_from_rollups(
            session, flow.build.id, filters.step, filters.status, start, end, now
        )
    return count_exactly(session, flow.build.id, filters, now)


def count_exactly(session: Session, build_id: int, filters: InstanceFilter, now: datetime) -> int:
    """`count_instances` from the instance rows: a scan of the timeframe's instances."""
    where, params = _matching(build_id, filters, now)
    # The fragments are constants; values are bound parameters.
    sql = f"select count(*) from flow_instances i where {' and '.join(where)}"  # noqa: S608
    return int(session.execute(text(sql), params).scalar_one())


# Which rollup counts the instances a filter selects, by (status, with a step): see
# `_matching` for the conditions, `flowscope.flows.correlation.rollups` for the kinds.
_ROLLUP_KIND: dict[tuple[str | None, bool], str] = {
    (None, False): "started",
    (None, True): "step",
    ("completed", False): "completed",
    ("completed", True): "step_completed",
    ("exception", False): "exception",
    ("exception", True): "step_exception",
}


def _count_from_rollups(
    session: Session,
    build_id: int,
    step: str | None,
    status: Status | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> int:
    """The count of a timeframe's instances by status and step from the rollups (exact, as
    every count there): O(hours) rows instead of a scan of the timeframe's instances, which
    took 340 ms for 30 days at 20 M events."""
    if status in ("in_progress", "stalled", "dropped"):
        # open instances come back by (current step, state at `now`)
        (figures,) = rollup_reads.read(session, build_id, [(start, end)], now, ["open"])
        return sum(
            n
            for (k, d1, d2), n in figures.counts.items()
            if k == "state" and d2 == status and (step is None or d1 == step)
        )
    kind = _ROLLUP_KIND[(status, step is not None)]
    (figures,) = rollup_reads.read(session, build_id, [(start, end)], now, [kind])
    return figures.count(kind, step or "")


def _check_step(flow: FlowContext, step: str | None) -> None:
    if step is not None and step not in {s.key for s in flow.definition.steps}:
        raise FlowscopeError(f"step: the flow has no step {step!r}")


def _matching(
    build_id: int, filters: InstanceFilter, now: datetime
) -> tuple[list[str], dict[str, Any]]:
    """The WHERE conditions (and their bound values) of the instances `filters` selects in
    a build: one definition for a page and for the total count."""
    step, status = filters.step, filters.status
    where = ["i.build_id = :b"]
    params: dict[str, Any] = {"b": build_id, "now": now}
    if status in ("in_progress", "stalled", "dropped", "completed"):
        where.append(state_where(status, "i"))
    if status == "exception":
        where.append("i.has_exception")
    if step is not None:
        params["step"] = step
        if status in ("in_progress", "stalled", "dropped"):
            where.append("i.current_step = :step")
        else:
            extra = " and s.exception is not null" if status == "exception" else ""
            where.append(
                "exists (select 1 from flow_instance_steps s where s.build_id = i.build_id "  # noqa: S608
                f"and s.correlation_id = i.correlation_id and s.step = :step{extra})"
            )
    if filters.q:
        where.append("strpos(lower(i.correlation_id), lower(:q)) > 0")
        params["q"] = filters.q
    for n, (name, value) in enumerate(filters.properties):
        where.append(f"i.properties ->> :pn{n} = :pv{n}")
        params[f"pn{n}"], params[f"pv{n}"] = name, value
    if filters.start is not None:
        where.append("i.started_at >= :start")
        params["start"] = filters.start
    if filters.end is not None:
        where.append("i.started_at < :end")
        params["end"] = filters.end
    return where, params


def variants(
    session: Session,
    flow: FlowContext,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
    examples: int = 5,
) -> Variants:
    """Step sequences with count, share and average duration, and conformance: instances that
    skipped a required step (jumped over it along the edges) or ran steps against the edges.

    Conformance depends on the variant alone, so it is judged once per distinct variant and
    weighted by the variant's count.
    """
    build = flow.build
    if build is None:
        return Variants(total=0, distinct=0, variants=[], conformance=None)
    where = "i.build_id = :b"
    params: dict[str, Any] = {"b": build.id, "ex": examples}
    if start is not None:
        where += " and i.started_at >= :start"
        params["start"] = start
    if end is not None:
        where += " and i.started_at < :end"
        params["end"] = end
    rows = [
        dict(r)
        for r in session.execute(
            text(
                "select i.variant as steps, count(*) as count, "  # noqa: S608 - constant fragments
                "avg(i.duration_s) as avg_duration_s, "
                "count(*) filter (where i.completed_at is not null) as completed, "
                "(array_agg(i.correlation_id order by i.started_at desc, i.correlation_id))"
                "[1:(:ex)] as examples "
                f"from flow_instances i where {where} "
                "group by i.variant order by count(*) desc, i.variant"
            ),
            params,
        ).mappings()
    ]
    total = sum(r["count"] for r in rows)
    compiled = CompiledFlow.compile(
        flow.definition, build_id=build.id, flow_id=flow.flow.id, version=build.version
    )
    skipped: dict[str, dict[str, Any]] = {}
    wrong: dict[str, dict[str, Any]] = {}
    conformant = with_skips = with_wrong = 0
    for r in rows:
        missed, bad = compiled.deviations(r["steps"])
        conformant += r["count"] if not missed and not bad else 0
        with_skips += r["count"] if missed else 0
        with_wrong += r["count"] if bad else 0
        for bucket, keys in ((skipped, missed), (wrong, bad)):
            for key in keys:
                entry = bucket.setdefault(key, {"count": 0, "examples": []})
                entry["count"] += r["count"]
                entry["examples"] = (entry["examples"] + r["examples"])[:examples]
    found = [
        VariantFigures(
            steps=r["steps"],
            count=r["count"],
            avg_duration_s=r["avg_duration_s"],
            completed=r["completed"],
            share=r["count"] / total,
        )
        for r in rows[:limit]
    ]
    transitions = []
    for label, entry in sorted(wrong.items(), key=lambda kv: (-kv[1]["count"], kv[0])):
        source, _, target = label.partition(">")
        # "^" is the start: the instance began at a step that is not a start step.
        transitions.append(
            OutOfOrder(from_=None if source == START else source, to=target, **entry)
        )
    return Variants(
        total=total,
        distinct=len(rows),
        variants=found,
        conformance=Conformance(
            conformant=conformant,
            skipped=with_skips,
            out_of_order=with_wrong,
            skipped_steps=[
                SkippedStep(step=k, **v)
                for k, v in sorted(skipped.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
            ],
            out_of_order_transitions=transitions,
        ),
    )
