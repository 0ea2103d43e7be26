"""Read statements of the flow pages that differ per engine, chosen once per connection.

An instance's timeline joins its memberships (`flow_events`, distributed by correlation id)
with the events (distributed by event id) on `seq`. On plain PostgreSQL that is one join. On
Citus the join would need a repartition join (refused by default, the page answered 500), so
the timeline is read in two steps: the memberships from the instance's one shard, then the
events by `seq = any(…)`, which every shard answers from its primary key (seq leads it).

The rollups' exact partial hours read the instances that started in a few time ranges: on
plain PostgreSQL an index range scan per range (lateral, `offset 0`), which Citus refuses; on
Citus a join of the ranges with the instances, which every shard answers from its
(build_id, started_at) index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.cluster.engine import Engine, engine_of

Rows = Sequence[Mapping[str, Any]]

_TIMELINE_JOIN = """
select fe.seq, fe."timestamp", fe.step, fe.exception, e.provider, e.type, e.event_id,
       e.received_at, e.attributes
from flow_events fe
join events e on e.seq = fe.seq
where fe.build_id = :b and fe.correlation_id = :c
order by fe."timestamp", fe.seq
"""

_MEMBERSHIPS = """
select fe.seq, fe."timestamp", fe.step, fe.exception
from flow_events fe
where fe.build_id = :b and fe.correlation_id = :c
order by fe."timestamp", fe.seq
"""

_EVENTS_BY_SEQ = """
select e.seq, e.provider, e.type, e.event_id, e.received_at, e.attributes
from events e
where e.seq = any(:seqs)
"""


def _timeline_joined(session: Session, build_id: int, correlation_id: str) -> Rows:
    params = {"b": build_id, "c": correlation_id}
    return [dict(row) for row in session.execute(text(_TIMELINE_JOIN), params).mappings()]


def _timeline_in_two_steps(session: Session, build_id: int, correlation_id: str) -> Rows:
    params = {"b": build_id, "c": correlation_id}
    memberships = [dict(row) for row in session.execute(text(_MEMBERSHIPS), params).mappings()]
    seqs = [m["seq"] for m in memberships]
    events = {e["seq"]: e for e in session.execute(text(_EVENTS_BY_SEQ), {"seqs": seqs}).mappings()}
    # an inner join, like the one-statement form: a membership's event is always there
    return [{**m, **events[m["seq"]]} for m in memberships if m["seq"] in events]


_TIMELINES: dict[Engine, Callable[[Session, int, str], Rows]] = {
    Engine.postgres: _timeline_joined,
    Engine.citus: _timeline_in_two_steps,
}


def timeline_rows(session: Session, build_id: int, correlation_id: str) -> Rows:
    """An instance's memberships with their events, in (timestamp, seq) order."""
    return _TIMELINES[engine_of(session)](session, build_id, correlation_id)


# FROM clauses: the ranges `p` ({ranges}) and the instances `i` ({columns} of alias `x`) of
# build `%(b)s` that started in them.
_STARTED_IN: dict[Engine, str] = {
    Engine.postgres: """{ranges}
  cross join lateral (
    select {columns} from flow_instances x
    where x.build_id = %(b)s and x.started_at >= p.lo and x.started_at < p.hi
    offset 0
  ) as i""",
    Engine.citus: """{ranges}
  join (select {columns} from flow_instances x where x.build_id = %(b)s) as i
    on i.started_at >= p.lo and i.started_at < p.hi""",
}


def started_in(session: Session, ranges: str, columns: str) -> str:
    """The instances that started in `ranges` (a FROM item `p(piece, lo, hi)`), as `i`."""
    return _STARTED_IN[engine_of(session)].format(ranges=ranges, columns=columns)
