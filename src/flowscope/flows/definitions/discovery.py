"""Process discovery: what the stored events of a provider say about its flow, computed in SQL.

A case is every event of `provider` with the same value at the correlation path (events without
it are left out). Inside a case, events are ordered by timestamp, then by ingest sequence, so
events with equal timestamps keep the order they were received (for an imported log: the file
order). `suggest_flow` turns the result into a draft `FlowDefinition`.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Session
from sqlalchemy.types import Integer, String

from flowscope.attributes import SqlParameters, correlation_sql, sql_parameters
from flowscope.errors import FlowscopeError
from flowscope.flows.definitions.discovery_cache import CacheKey, DiscoveryCache, Seen, database_of
from flowscope.flows.definitions.schemas import Edge, EventMatcher, FlowDefinition, Step, Timeouts
from flowscope.flows.definitions.yaml_io import parse_definition

MAX_PATH_LENGTH = 256
MAX_TOP_VARIANTS = 1000  # as many as the API lists


class ActivityStats(BaseModel):
    name: str
    events: int
    cases: int
    # Mean relative position inside its cases: 0 = first event, 1 = last event.
    position: float


class DirectlyFollows(BaseModel):
    source: str
    target: str
    count: int


class Variant(BaseModel):
    activities: list[str]
    count: int


class Discovery(BaseModel):
    provider: str
    correlation: str
    cases: int
    events: int
    activities: int
    activity_stats: list[ActivityStats]
    edges: list[DirectlyFollows]
    variants: int
    top_variants: list[Variant]
    start_activities: dict[str, int]
    end_activities: dict[str, int]
    mean_case_duration_s: float | None
    median_case_duration_s: float | None
    # Time between consecutive events of a case: 90th and 99th percentile (drafts' timeouts).
    gap_p90_s: float | None
    gap_p99_s: float | None


# Results kept until the provider's events change (see discovery_cache.py).
CACHE: DiscoveryCache[Discovery] = DiscoveryCache()


def attribute_path(field: str) -> SqlParameters:
    """The bound values that read `field` by the one attribute-path rule; refuses empty parts."""
    if not field or len(field) > MAX_PATH_LENGTH:
        raise FlowscopeError(
            f"correlation: give an attribute path of 1 to {MAX_PATH_LENGTH} characters, "
            "such as order.id"
        )
    if "\x00" in field:
        raise FlowscopeError("correlation: must not contain a NUL character (\\u0000)")
    parts = field.split(".")
    if any(not part for part in parts):
        raise FlowscopeError(f"correlation: {field!r} has an empty part; write it like order.id")
    return sql_parameters(field)


def _case_value_sql(parts: int) -> str:
    """The jsonb value the correlator takes the correlation id from (flat key first, then
    nested), read with `->` per part instead of the attribute rule's
    `jsonb_path_query_first`: the same values (`jsonb -> text` is NULL on anything but an
    object, as a strict JSON path member is), at a third of the cost per event."""
    flat = "attributes -> cast(:key as text)"
    if parts == 1:
        return flat
    nested = "attributes" + "".join(f" -> cast(:p{i} as text)" for i in range(parts))
    return f"coalesce({flat}, {nested})"


# One statement, one round trip, and one pass over the events: each case's activities and
# times are gathered in order (`array_agg(... order by "timestamp", seq)`; from PostgreSQL 16
# on one sort by case, time and seq serves every group), and every figure is then read from
# the cases (a few per hundred events) or from their distinct variants with their number of
# cases (a few hundred rows): a variant's pairs of neighbours are its directly-follows edges,
# its first and last activity the starts and ends; a case's duration is its last time minus
# its first, its gaps the differences of neighbouring times.
# Cost notes (bench/discover.py): `offset 0` keeps each level's expression from being copied
# into the next (the jsonb value and the case id are computed once per event, not again for
# the filter and the sort key); the case id sorts and groups in the "C" collation (bytes: the
# same groups, without the locale's comparisons). Before these, a window for the gaps and a
# second sort for the groups took a quarter more time.
# The statement's snapshot comes back with the figures: discovery_cache.py keeps the result
# until an event that snapshot did not see is stored.
_DISCOVER = """
    with found as (
        select {case_value} as value, type, "timestamp", seq
        from events
        where provider = :provider
          and (cast(:start as timestamptz) is null or "timestamp" >= :start)
          and (cast(:end as timestamptz) is null or "timestamp" < :end)
        offset 0
    ),
    scoped as (
        select ({case_id}) collate "C" as case_id, type, "timestamp", seq
        from found
        offset 0
    ),
    cases as materialized (
        select array_agg(type order by "timestamp", seq) as variant,
               array_agg("timestamp" order by "timestamp", seq) as times
        from scoped
        where case_id is not null
        group by case_id
    ),
    variants as materialized (
        select variant, cardinality(variant) as length, count(*) as n
        from cases group by variant
    ),
    steps as materialized (
        select v.variant, v.n, v.length, s.activity, s.position
        from variants v, unnest(v.variant) with ordinality as s(activity, position)
    )
    select jsonb_build_object(
        'cases', (select coalesce(sum(n), 0) from variants),
        'events', (select coalesce(sum(n * length), 0) from variants),
        'activity_stats', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'name', activity, 'events', events, 'cases', cases, 'position', p)
                   order by events desc, activity), '[]')
            from (
                select activity, sum(n) as events,
                       sum(n * case when length = 1 then 0.0
                                    else (position - 1)::float8 / (length - 1) end)
                           / sum(n) as p,
                       (select sum(n) from variants v2 where activity = any(v2.variant)) as cases
                from steps group by activity
            ) t
        ),
        'edges', (
            select coalesce(jsonb_agg(jsonb_build_object(
                       'source', source, 'target', target, 'count', n)
                   order by n desc, source, target), '[]')
            from (
                select variant[i] as source, variant[i + 1] as target, sum(n) as n
                from variants, generate_series(1, length - 1) as i
                group by 1, 2
            ) e
        ),
        'variants', (select count(*) from variants),
        'top_variants', (
            select coalesce(jsonb_agg(jsonb_build_object('activities', variant, 'count', n)
                                      order by n desc, variant), '[]')
            from (select variant, n from variants order by n desc, variant limit :top) v
        ),
        'start_activities', (
            select coalesce(jsonb_object_agg(a, n), '{{}}')
            from (select variant[1] as a, sum(n) as n from variants group by 1) s
        ),
        'end_activities', (
            select coalesce(jsonb_object_agg(a, n), '{{}}')
            from (select variant[length] as a, sum(n) as n from variants group by 1) s
        ),
        'durations', (
            select jsonb_build_object(
                'mean', avg(duration)::float8,
                'median', percentile_cont(0.5) within group (order by duration::float8))
            from (select extract(epoch from times[cardinality(times)] - times[1]) as duration
                  from cases) as d
        ),
        'gaps', (
            select jsonb_build_object(
                'p90', percentile_cont(0.9) within group (order by gap),
                'p99', percentile_cont(0.99) within group (order by gap))
            from (select extract(epoch from unnest(times[2:]) - unnest(times))::float8 as gap
                  from cases) as g
            where gap is not null
        ),
        'snapshot', jsonb_build_object(
            'seen', pg_current_snapshot()::text,
            'table', pg_relation_filenode('events')::bigint,
            'writing', pg_current_xact_id_if_assigned() is not null,
            'purged', (select purged_before::text from retention_providers
                       where provider = :provider))
    )
    """


@functools.lru_cache(maxsize=16)
def _discover_sql(parts: int) -> TextClause:
    """The statement for a correlation path of `parts` parts (their names are bound values)."""
    sql = _DISCOVER.format(case_value=_case_value_sql(parts), case_id=correlation_sql("value"))
    return text(sql).bindparams(  # noqa: S608 - constant
        bindparam("key", type_=String),
        *(bindparam(f"p{i}", type_=String) for i in range(parts if parts > 1 else 0)),
        bindparam("provider", type_=String),
        bindparam("start", type_=TIMESTAMP(timezone=True)),
        bindparam("end", type_=TIMESTAMP(timezone=True)),
        bindparam("top", type_=Integer),
    )


def discover(
    session: Session,
    provider: str,
    correlation_field: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    top_variants: int = 10,
) -> Discovery:
    """Cases, activities, directly-follows edges, variants and durations of `provider`'s events.

    `start`/`end` keep events with start <= timestamp < end (cases are cut at the window).
    At most `MAX_TOP_VARIANTS` variants are listed. The result is computed once per provider,
    correlation field and window, and kept until new events of the provider are stored (see
    discovery_cache.py).
    """
    key, _ = attribute_path(correlation_field)
    parts = correlation_field.split(".")
    if "\x00" in provider:  # PostgreSQL text cannot hold it: no provider has one
        raise FlowscopeError("provider: must not contain a NUL character (\\u0000)")
    top_variants = max(0, min(top_variants, MAX_TOP_VARIANTS))
    cache_key = CacheKey(database_of(session), provider, correlation_field, start, end)
    found = CACHE.get(session, cache_key)
    if found is None:
        row = session.execute(
            _discover_sql(len(parts)),
            {
                **({f"p{i}": part for i, part in enumerate(parts)} if len(parts) > 1 else {}),
                "key": key,
                "provider": provider,
                "start": start,
                "end": end,
                "top": MAX_TOP_VARIANTS,
            },
        ).scalar_one()
        data: dict[str, Any] = dict(row)
        snapshot = data.pop("snapshot")
        durations, gaps = data.pop("durations"), data.pop("gaps")
        found = Discovery(
            provider=provider,
            correlation=correlation_field,
            activities=len(data["activity_stats"]),
            mean_case_duration_s=durations["mean"],
            median_case_duration_s=durations["median"],
            gap_p90_s=gaps["p90"],
            gap_p99_s=gaps["p99"],
            **data,
        )
        CACHE.put(
            cache_key,
            Seen(snapshot["seen"], snapshot["table"], snapshot["writing"], snapshot["purged"]),
            found,
        )
    return found.model_copy(update={"top_variants": found.top_variants[:top_variants]})


# ---------------------------------------------------------------------------------------------
# a draft definition from the discovered graph


def _step_key(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:56] or "step"
    if not base[0].isalnum():
        base = f"s{base}"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    taken.add(key)
    return key


def _reached(keys: list[str], edges: list[tuple[str, str]]) -> set[str]:
    """The steps reachable from the start steps, by the rule `FlowDefinition` checks."""
    has_incoming = {t for s, t in edges if s != t}
    starts = [k for k in keys if k not in has_incoming] or keys[:1]
    reached = set(starts)
    frontier = list(starts)
    while frontier:
        node = frontier.pop()
        for source, target in edges:
            if source == node and target not in reached:
                reached.add(target)
                frontier.append(target)
    return reached


def _connect(
    keys: list[str],
    kept: list[tuple[str, str]],
    dropped: list[tuple[str, str]],
    start_counts: dict[str, int],
) -> list[tuple[str, str]] | None:
    """Add back the strongest dropped edges until every step is reachable.

    `dropped` is ordered strongest first. When no dropped edge leads out of the reached part
    (a part of the graph only entered by cases that start there), that part's most common start
    activity loses its incoming edges and so becomes a start step. None if it cannot be done.
    """
    edges = list(kept)
    pool = list(dropped)
    for _ in range(len(keys) + len(dropped) + 1):
        reached = _reached(keys, edges)
        if len(reached) == len(keys):
            return edges
        bridge = next((e for e in pool if e[0] in reached and e[1] not in reached), None)
        if bridge is not None:
            edges.append(bridge)
            pool.remove(bridge)
            continue
        unreached = [k for k in keys if k not in reached]
        entry = max(unreached, key=lambda k: (start_counts.get(k, 0), -keys.index(k)))
        edges = [e for e in edges if e[1] != entry or e[0] == entry]
    return None


def _round_up(seconds: float) -> timedelta:
    """A readable duration at least `seconds` long: whole minutes, hours or days."""
    unit = 60 if seconds <= 48 * 60 else 3600 if seconds <= 48 * 3600 else 86400
    return timedelta(seconds=max(1, math.ceil(seconds / unit)) * unit)


def _timeouts(discovery: Discovery) -> Timeouts | None:
    """Stall after the 90th percentile of the wait for a case's next event, drop after the 99th."""
    if discovery.gap_p90_s is None or discovery.gap_p99_s is None:
        return None
    stall = _round_up(discovery.gap_p90_s)
    drop = max(_round_up(discovery.gap_p99_s), 2 * stall)
    return Timeouts(stall=stall, drop=drop)


def suggest_flow(
    discovery: Discovery,
    slug: str,
    name: str,
    provider: str,
    correlation: str,
    *,
    min_edge_share: float = 0.01,
) -> FlowDefinition:
    """A draft definition: one step per activity, ordered by typical position in the cases.

    Edges are the directly-follows pairs seen in at least `min_edge_share` of the cases (at
    least once), plus each step's strongest way in and out (so no step is left hanging), plus
    rarer ones where a step would otherwise be unreachable.
    A step that ends at least half of the cases it appears in, yet has outgoing edges, is
    marked `final`. Timeouts follow the observed waits between events (see `_timeouts`).
    """
    stats = sorted(discovery.activity_stats, key=lambda a: (a.position, -a.events, a.name))
    if not stats:
        raise FlowscopeError(
            f"provider {provider!r} has no events with the attribute {correlation!r}: "
            "nothing to suggest a flow from"
        )
    taken: set[str] = set()
    key_of = {a.name: _step_key(a.name, taken) for a in stats}
    keys = [key_of[a.name] for a in stats]
    threshold = max(1.0, min_edge_share * discovery.cases)
    pairs = [(key_of[e.source], key_of[e.target], e.count) for e in discovery.edges]
    start_counts = {key_of[a]: n for a, n in discovery.start_activities.items()}
    end_counts = {key_of[a]: n for a, n in discovery.end_activities.items()}
    chosen = {(s, t) for s, t, n in pairs if n >= threshold}
    # No step left hanging: each keeps its strongest way in unless more cases start there,
    # and its strongest way out unless more cases end there (pairs are strongest first).
    for key in keys:
        way_in = next(((s, t, n) for s, t, n in pairs if t == key and s != key), None)
        if way_in and way_in[2] > start_counts.get(key, 0):
            chosen.add(way_in[:2])
        way_out = next(((s, t, n) for s, t, n in pairs if s == key and t != key), None)
        if way_out and way_out[2] > end_counts.get(key, 0):
            chosen.add(way_out[:2])
    kept = [(s, t) for s, t, _ in pairs if (s, t) in chosen]
    dropped = [(s, t) for s, t, _ in pairs if (s, t) not in chosen]
    edges = _connect(keys, kept, dropped, start_counts)
    has_outgoing = {s for s, t in edges or [] if s != t}
    steps = [
        Step(
            key=key_of[a.name],
            name=a.name[:128],
            events=[EventMatcher(type=a.name)],
            final=(
                key_of[a.name] in has_outgoing
                and 2 * discovery.end_activities.get(a.name, 0) >= a.cases
            ),
        )
        for a in stats
    ]
    data: dict[str, Any] = {
        "slug": slug,
        "name": name,
        "providers": [provider],
        "correlation": correlation,
        "steps": steps,
        # Without edges the steps follow each other in order, which is always a valid graph.
        "edges": None if edges is None else [Edge(source=s, target=t) for s, t in edges],
    }
    timeouts = _timeouts(discovery)
    if timeouts is not None:
        data["timeouts"] = timeouts
    return parse_definition(data)  # a bad slug or name is the caller's error, named as such
