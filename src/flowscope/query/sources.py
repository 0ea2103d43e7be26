"""Data sources that `fetch` reads. A source is a table with known columns, a time column, a
record order and (optionally) a JSONB column that holds every other field.

Adding a source (e.g. `fetch flows` once the correlator's tables exist) means adding one
`Source` value here: the compiler knows nothing else about tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowscope.flows.analysis.states import state_sql
from flowscope.query.values import T


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the FQL field name, e.g. "event.provider"
    # SQL template, a constant of this module (never user text): {t} is the source's alias,
    # {now} the query's now (for states derived at read time, e.g. stalled/dropped flows)
    sql: str
    type: T
    shown: bool = True  # part of the default output of `fetch` without `fields`


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    table: str  # a table name or a constant parenthesised SELECT
    columns: tuple[Column, ...]
    time_column: str  # FQL name of the column that `from:`/`to:` and the timeframe apply to
    order: tuple[str, ...]  # FQL/internal names giving record order (takeFirst, takeLast)
    attributes: str | None = None  # JSONB column with all other fields; None: closed schema
    # a name prefix that also reaches the attributes (`properties.loyalty` as well as `loyalty`)
    attributes_prefix: str = ""

    def column(self, name: str) -> Column | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None


# Internal columns: names starting with "#" are never resolved from query text.
SEQ = "#seq"
ATTRIBUTES = "#attributes"

EVENTS = Source(
    name="bizevents",
    table="events",
    columns=(
        Column("timestamp", '{t}."timestamp"', T.TIMESTAMP),
        Column("event.provider", "{t}.provider", T.STRING),
        Column("event.type", "{t}.type", T.STRING),
        Column("event.id", "{t}.event_id", T.STRING),
        # Grail sets this on every business event and dashboards filter on it; the SQL is a
        # constant, so a filter on it folds away in PostgreSQL's planner
        Column("event.kind", "'BIZ_EVENT'::text", T.STRING),
        Column("received_at", "{t}.received_at", T.TIMESTAMP, shown=False),
        Column(SEQ, "{t}.seq", T.NUMBER, shown=False),
        Column(ATTRIBUTES, "{t}.attributes", T.JSON, shown=False),
    ),
    time_column="timestamp",
    order=("timestamp", SEQ),
    attributes=ATTRIBUTES,
)

# One row per flow instance of the build readers see (the newest `ready` build of each flow,
# as `flowscope.flows.correlation.builds.current_build` picks it). A constant SELECT: no user
# input. The builds are picked first and joined to the instances by build id, so the `started`
# range of the timeframe can use the (build_id, started_at) index.
_FLOW_INSTANCES = (
    "(select f.slug as flow, i.* from"
    " (select distinct on (flow_id) id, flow_id from flow_builds where state = 'ready'"
    " order by flow_id, id desc) b"
    " join flows f on f.id = b.flow_id"
    " join flow_instances i on i.build_id = b.id)"
)
# The keys of the steps an instance reached, in the order it first reached them, and of those
# where it had a business exception: `in("paid", steps)` is the flow page's "reached the
# step" list, `in("paid", exception.steps)` its "exception at the step" list.
_STEPS = (
    "(select coalesce(jsonb_agg(s.step order by s.first_at, s.step), '[]'::jsonb)"
    " from flow_instance_steps s where s.build_id = {t}.build_id"
    " and s.correlation_id = {t}.correlation_id{extra})"
)
# The read-time state rule of flows/states.py, with the compiler's bound "now" parameter.
_STATE = state_sql("{t}", "fql_now").replace(":fql_now", "{now}")

FLOWS = Source(
    name="flows",
    table=_FLOW_INSTANCES,
    columns=(
        Column("flow", "{t}.flow", T.STRING),
        Column("correlationId", "{t}.correlation_id", T.STRING),
        Column("state", _STATE, T.STRING),
        Column("started", "{t}.started_at", T.TIMESTAMP),
        Column("ended", "{t}.last_event_at", T.TIMESTAMP),
        Column("duration", "(round({t}.duration_s * 1e9))::bigint", T.DURATION),
        Column("step", "{t}.current_step", T.STRING),
        Column("events", "({t}.event_count)::double precision", T.NUMBER),
        Column("revenue", "({t}.revenue)::double precision", T.NUMBER),
        Column("exception", "{t}.has_exception", T.BOOLEAN),
        Column("exception.step", "{t}.exception_step", T.STRING),
        Column("exception.name", "{t}.exception_name", T.STRING),
        Column("steps", _STEPS.replace("{extra}", ""), T.JSON),
        Column(
            "exception.steps",
            _STEPS.replace("{extra}", " and s.exception is not null"),
            T.JSON,
            shown=False,
        ),
        Column("completed", "{t}.completed_at", T.TIMESTAMP, shown=False),
        Column(SEQ, "{t}.correlation_id", T.STRING, shown=False),
        Column(ATTRIBUTES, "{t}.properties", T.JSON, shown=False),
    ),
    time_column="started",
    order=("started", SEQ),
    attributes=ATTRIBUTES,
    attributes_prefix="properties.",
)

SOURCES: dict[str, Source] = {"bizevents": EVENTS, "events": EVENTS, "flows": FLOWS}

# Sources that are planned but whose tables do not exist on this version yet.
NOT_YET: dict[str, str] = {}
