"""What the flow editor offers and previews, read from the stored events.

Every query here is bounded: providers and event types are read with a loose index scan
(one index probe per distinct value, on `ix_events_provider_type_timestamp`), attribute paths
from a small sample of recent events, and the preview over a time window (30 days by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import Integer, String

from flowscope.attributes import correlation_sql, sql_parameters, value_sql
from flowscope.errors import FlowscopeError
from flowscope.flows.definitions.schemas import FlowDefinition

PREVIEW_DAYS = 30
PREVIEW_CHOICES = (1, 7, 30, 90)  # the window stays bounded: a preview never reads all events
# A preview reads the attributes of every matched event (about 1 s per 500,000 on 2 cores, see
# bench/editor.py); past this it stops and asks for a shorter window instead of holding a worker.
PREVIEW_TIMEOUT_MS = 15_000
MAX_DISTINCT = 500
PATH_SAMPLE = 200

# Loose index scan: each step jumps to the next larger provider through the index instead of
# reading every event; PostgreSQL 15 has no skip scan of its own.
_PROVIDERS = text(
    """
    with recursive p(provider) as (
        (select provider from events order by provider limit 1)
        union all
        select (select e.provider from events e where e.provider > p.provider
                order by e.provider limit 1)
        from p where p.provider is not null
    )
    select provider from p where provider is not null limit :limit
    """
).bindparams(bindparam("limit", type_=Integer))

_TYPES = text(
    """
    with recursive t(type) as (
        (select type from events where provider = :provider order by type limit 1)
        union all
        select (select e.type from events e where e.provider = :provider and e.type > t.type
                order by e.type limit 1)
        from t where t.type is not null
    )
    select type from t where type is not null limit :limit
    """
).bindparams(bindparam("provider", type_=String), bindparam("limit", type_=Integer))

# The newest few events of each type, so a rare type's attributes are seen too.
_SAMPLE = text(
    """
    select x.attributes from unnest(:types) as t(type)
    cross join lateral (
        select attributes from events
        where provider = :provider and type = t.type
        order by "timestamp" desc limit :per_type
    ) x
    """
).bindparams(
    bindparam("provider", type_=String),
    bindparam("types", type_=ARRAY(String)),
    bindparam("per_type", type_=Integer),
)


def providers_seen(session: Session) -> list[str]:
    """The providers that have stored events (at most 500), in name order."""
    return list(session.scalars(_PROVIDERS, {"limit": MAX_DISTINCT}))


def event_types_seen(session: Session, providers: list[str]) -> dict[str, list[str]]:
    """For each provider, the event types it has sent (at most 500 each)."""
    return {
        p: list(session.scalars(_TYPES, {"provider": p, "limit": MAX_DISTINCT})) for p in providers
    }


def attribute_paths(session: Session, provider: str) -> list[str]:
    """Attribute paths with a scalar value in a sample of the provider's events: top level and
    one nested level (`order.id`), most frequent first. Candidates for a correlation field."""
    types = event_types_seen(session, [provider])[provider]
    per_type = max(3, PATH_SAMPLE // max(1, len(types)))
    counts: dict[str, int] = {}
    params = {"provider": provider, "types": types, "per_type": per_type}
    for attributes in session.scalars(_SAMPLE, params):
        if not isinstance(attributes, dict):
            continue
        for key, value in attributes.items():
            if isinstance(value, dict):
                for sub, inner in value.items():
                    if not isinstance(inner, (dict, list)):
                        path = f"{key}.{sub}"
                        counts[path] = counts.get(path, 0) + 1
            elif not isinstance(value, list):
                counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda p: (-counts[p], p))


@dataclass
class StepPreview:
    key: str
    name: str
    events: int
    flows: int


@dataclass
class Preview:
    since: datetime
    days: int
    events: int
    flows: int
    uncorrelated: int
    steps: list[StepPreview]


_CURRENT_TIMEOUT = text("select current_setting('statement_timeout')")
_TIMEOUT = text("select set_config('statement_timeout', :ms, true)")

# The correlator's correlation id of each event, read at the matcher's path (flat key first,
# then nested); the JSON paths are cast once per matcher, not once per event.
_CID = correlation_sql(value_sql("e.attributes", "m.key", "m.jsonpath"))

# One row per (step, provider, type, correlation path) matcher, unnested from arrays; each is a
# probe of the (provider, type, timestamp) index bounded by `since`.
_PREVIEW = text(
    f"""
    with m as (
        select * from unnest(:steps, :providers, :types, :keys, cast(:jsonpaths as jsonpath[]))
            as m(step, provider, type, key, jsonpath)
    ),
    hits as (
        select m.step, {_CID} as cid
        from m join events e on e.provider = m.provider and e.type = m.type
        where e."timestamp" >= :since
    )
    select step, count(*) as events, count(distinct cid) as flows,
           count(*) filter (where cid is null) as uncorrelated
    from hits group by rollup(step)
    """  # noqa: S608 - the correlation id fragment is a constant; values are bound parameters
).bindparams(
    bindparam("steps", type_=ARRAY(String)),
    bindparam("providers", type_=ARRAY(String)),
    bindparam("types", type_=ARRAY(String)),
    bindparam("keys", type_=ARRAY(String)),
    bindparam("jsonpaths", type_=ARRAY(String)),
)


def preview(
    session: Session,
    definition: FlowDefinition,
    *,
    days: int = PREVIEW_DAYS,
    timeout_ms: int = PREVIEW_TIMEOUT_MS,
) -> Preview:
    """How many events of the last `days` days the draft's steps match, and how many unique
    flows (distinct correlation values, each step read at its own correlation path) they make.

    Runs in a savepoint with a statement timeout: a timeout is a `FlowscopeError` that says so.
    """
    rows: dict[str, list[str]] = {
        "steps": [],
        "providers": [],
        "types": [],
        "keys": [],
        "jsonpaths": [],
    }
    for step in definition.steps:
        key, jsonpath = sql_parameters(step.correlation or definition.correlation)
        for matcher in step.events:
            for provider in [matcher.provider] if matcher.provider else definition.providers:
                rows["steps"].append(step.key)
                rows["providers"].append(provider)
                rows["types"].append(matcher.type)
                rows["keys"].append(key)
                rows["jsonpaths"].append(jsonpath)
    since = datetime.now(UTC) - timedelta(days=days)
    try:
        with session.begin_nested():
            # set_config(…, true) is SET LOCAL: undone when the savepoint rolls back, and put
            # back below when it does not.
            before = session.execute(_CURRENT_TIMEOUT).scalar_one()
            session.execute(_TIMEOUT, {"ms": str(timeout_ms)})
            result = session.execute(_PREVIEW, {**rows, "since": since}).all()
            session.execute(_TIMEOUT, {"ms": before})
    except OperationalError as exc:
        if not isinstance(exc.orig, psycopg.errors.QueryCanceled):
            raise
        raise FlowscopeError(
            f"the preview took longer than {timeout_ms / 1000:g} s: choose a shorter window",
            status_code=503,
        ) from None
    found: dict[str | None, Any] = {r.step: r for r in result}
    total = found.get(None)
    steps = [
        StepPreview(
            key=s.key,
            name=s.name,
            events=found[s.key].events if s.key in found else 0,
            flows=found[s.key].flows if s.key in found else 0,
        )
        for s in definition.steps
    ]
    return Preview(
        since=since,
        days=days,
        events=total.events if total else 0,
        flows=total.flows if total else 0,
        uncorrelated=total.uncorrelated if total else 0,
        steps=steps,
    )


def sketch(draft: dict[str, Any]) -> dict[str, Any]:
    """The draft reduced to what the live diagram draws: its keyed steps and their edges.

    A draft being typed is rarely valid yet (no correlation, a step without events, a bad
    timeout), and none of that changes the shape. So every field the layout ignores is left
    out or given a stand-in, and each step matches an event of its own, so validation only
    speaks about the steps and edges themselves (a bad or repeated key)."""
    steps = []
    for i, step in enumerate(draft.get("steps") or []):
        if not isinstance(step, dict) or not step.get("key"):
            continue  # a step without a key cannot be drawn or joined by an edge yet
        key = step["key"]
        drawn: dict[str, Any] = {"key": key, "name": step.get("name") or key}
        drawn["events"] = [{"type": f"step {i}"}]
        drawn |= {flag: True for flag in ("optional", "final") if step.get(flag)}
        steps.append(drawn)
    keys = {s["key"] for s in steps}
    edges = [
        e
        for e in draft.get("edges") or []
        if isinstance(e, dict) and e.get("from") in keys and e.get("to") in keys
    ]
    out: dict[str, Any] = {"slug": "draft", "name": "draft", "correlation": "id"}
    out |= {"providers": ["draft"], "steps": steps}
    if draft.get("edges"):  # listed edges replace the steps in order, even if none is usable
        out["edges"] = edges
    return out
