"""The events explorer's counts, read in time bounded by the number of event types, not events.

Counting every stored event per provider and type (`count(*) … group by`) reads the whole table:
seconds at millions of events. Instead:
- the (provider, type) pairs come from a skip scan of the (provider, type, timestamp) index (a
  recursive query that jumps from one pair to the next: one index probe per pair);
- per pair, its newest events are read backwards on the same index, at most `cap` + 1 of them:
  the latest time is the first, the count in the window is exact up to `cap` (the newest come
  first), and so is the all-time count; beyond `cap` the page says "more than".
So a page costs at most (pairs × cap) index entries, whatever the table's size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.attributes import correlation_sql, sql_parameters, value_sql

COUNT_CAP = 1_000  # 24 types read <= 24,000 index entries: ~20 ms under load, see bench/discover.py

# Every (provider, type) pair, one index probe per pair (a loose index scan): the cost follows
# the number of pairs, not of events.
_PAIRS_CTE = """
    with recursive pairs(provider, type) as (
        (select provider, type from events order by provider, type limit 1)
        union all
        select next.provider, next.type
        from pairs, lateral (
            select e.provider, e.type from events e
            where (e.provider, e.type) > (pairs.provider, pairs.type)
            order by e.provider, e.type
            limit 1
        ) as next
    )
"""

_OVERVIEW = text(
    _PAIRS_CTE  # noqa: S608 - fixed fragments
    + """
    select pairs.provider, pairs.type, newest.total, newest.recent, newest.latest
    from pairs, lateral (
        select count(*) as total,
               count(*) filter (where cast(:since as timestamptz) is null
                                   or "timestamp" >= :since) as recent,
               max("timestamp") as latest
        from (
            select "timestamp" from events e
            where e.provider = pairs.provider and e.type = pairs.type
            order by e.provider desc, e.type desc, e."timestamp" desc
            limit :limit
        ) as newest_rows
    ) as newest
    order by pairs.provider, pairs.type
    """
)


def type_overview(
    session: Session, since: datetime | None, cap: int = COUNT_CAP
) -> list[dict[str, Any]]:
    """Per provider and event type: events since `since` (all when None), all events, each
    exact up to `cap` (`recent_more` / `total_more` say when there are more), and the latest
    event time."""
    rows = session.execute(_OVERVIEW, {"since": since, "limit": cap + 1}).mappings()
    out = []
    for row in rows:
        item = dict(row)
        item["total_more"] = item["total"] > cap
        item["recent_more"] = item["recent"] > cap
        item["total"] = min(item["total"], cap)
        item["recent"] = min(item["recent"], cap)
        out.append(item)
    return out


# ---------------------------------------------------------------------------------------------
# the latest events

_PAIRS = text(_PAIRS_CTE + "select provider, type from pairs order by provider, type")  # noqa: S608
_COLUMNS = 'seq, provider, type, event_id, "timestamp", received_at, attributes'
_ORDER = '"timestamp" desc, seq desc'


def event_pairs(session: Session) -> list[tuple[str, str]]:
    """Every (provider, type) that has events: one probe of the index per pair."""
    return [(str(p), str(t)) for p, t in session.execute(_PAIRS).all()]


def _containing(path: str, value: Any) -> dict[str, Any]:
    """The smallest JSON object that holds `value` at `path`, read nested (`order.id` →
    `{"order": {"id": value}}`)."""
    doc: Any = value
    for part in reversed(path.split(".")):
        doc = {part: doc}
    return cast(dict[str, Any], doc)


def _correlation_filter(correlation_id: str, paths: Sequence[str], params: dict[str, Any]) -> str:
    """SQL that keeps the events whose correlation id (by the correlator's own rule, under any
    of `paths`) is `correlation_id`.

    The rule itself (flat key first, then nested; a string, or a number written as the id) is
    exact but no index serves it, so it is preceded by containment tests that the GIN index
    on `attributes` answers: the id as a string, or as a number when it reads as one, under
    the flat key or nested. They find every event the rule keeps (and a few it does not, such
    as a nested value hidden by a flat key), so the page reads only those events.
    """
    matches: list[str] = []
    candidates: list[str] = []
    values: list[Any] = [correlation_id]
    try:
        number = json.loads(correlation_id)
    except ValueError:
        number = None
    if isinstance(number, int | float) and not isinstance(number, bool) and math.isfinite(number):
        values.append(number)  # jsonb compares numbers by value: 1.5 finds 1.50 too
    for n, path in enumerate(dict.fromkeys(paths)):
        params[f"ck{n}"], params[f"cj{n}"] = sql_parameters(path)
        value = value_sql("attributes", f"cast(:ck{n} as text)", f":cj{n}")
        matches.append(f"{correlation_sql(value)} = :cid")
        docs = [{path: v} for v in values]
        if "." in path:
            docs.extend(_containing(path, v) for v in values)
        for doc in docs:
            params[f"cd{len(candidates)}"] = json.dumps(doc)
            candidates.append(f"attributes @> cast(:cd{len(candidates)} as jsonb)")
    params["cid"] = correlation_id
    if not matches:
        return "false"
    return f"({' or '.join(candidates)}) and ({' or '.join(matches)})"


def latest_events(
    session: Session,
    *,
    provider: str | None = None,
    type_: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    correlation_id: str | None = None,
    correlation_paths: Sequence[str] = (),
    before: int | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """The latest stored events (newest timestamp first, then newest received), with their
    attributes: what a developer checks to see that their app's events arrive as intended.

    Every read is bounded by `limit`, not by the table: without a provider or type the
    timestamp index is walked backwards from the window's end; with one, each matching
    (provider, type) pair's own index is (at most `limit` entries each) and the walks are
    merged. `before` (the `seq` of the last event shown) continues below that event: keyset
    pagination on (timestamp, seq), no offset to skip over. `pairs` are the (provider, type)
    pairs that have events, when the caller already read them (`type_overview`).
    """
    where = ["true"]
    params: dict[str, Any] = {"limit": limit}
    if since is not None:
        where.append('"timestamp" >= :since')
        params["since"] = since
    if before is not None:
        at = session.execute(
            text('select "timestamp" from events where seq = :seq'), {"seq": before}
        ).scalar_one_or_none()
        if at is None:  # deleted since (retention): nothing below it can be placed
            return []
        where.append('"timestamp" <= :at and ("timestamp" < :at or seq < :before)')
        params["at"], params["before"] = at, before
    if correlation_id:
        where.append(_correlation_filter(correlation_id, correlation_paths, params))
    condition = " and ".join(where)
    if not provider and not type_:
        sql = f"select {_COLUMNS} from events where {condition} order by {_ORDER} limit :limit"  # noqa: S608
    else:
        if pairs is None:
            pairs = [(provider, type_)] if provider and type_ else event_pairs(session)
        chosen = [
            (p, t)
            for p, t in pairs
            if (not provider or p == provider) and (not type_ or t == type_)
        ]
        if not chosen:
            return []
        params["providers"] = [p for p, _ in chosen]
        params["types"] = [t for _, t in chosen]
        sql = (
            f"select e.* from unnest(cast(:providers as text[]), cast(:types as text[]))"  # noqa: S608
            " as pair(provider, type), lateral ("
            f"  select {_COLUMNS} from events"
            f"  where provider = pair.provider and type = pair.type and {condition}"
            f"  order by {_ORDER} limit :limit"
            f") as e order by {_ORDER} limit :limit"
        )
    return [dict(row) for row in session.execute(text(sql), params).mappings()]
