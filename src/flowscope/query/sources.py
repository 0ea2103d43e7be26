"""Data sources that `fetch` reads. A source is a table with known columns, a time column, a
record order and (optionally) a JSONB column that holds every other field.

Adding a source (e.g. `fetch flows` once the correlator's tables exist) means adding one
`Source` value here: the compiler knows nothing else about tables.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        Column("received_at", "{t}.received_at", T.TIMESTAMP, shown=False),
        Column(SEQ, "{t}.seq", T.NUMBER, shown=False),
        Column(ATTRIBUTES, "{t}.attributes", T.JSON, shown=False),
    ),
    time_column="timestamp",
    order=("timestamp", SEQ),
    attributes=ATTRIBUTES,
)

SOURCES: dict[str, Source] = {"bizevents": EVENTS, "events": EVENTS}

# Sources that are planned but whose tables do not exist on this version yet.
NOT_YET = {"flows": "fetch flows is not available yet"}
