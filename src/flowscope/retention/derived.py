"""What goes with deleted events: their memberships, and the flow rows computed from them.

The rule: a flow instance whose every event is gone is deleted with its step and transition
rows; an instance that lost only some events is recomputed from the memberships left, with
the correlator's own recompute (`flowscope.flows.correlation.recompute`), unless every event
it has left is past retention too (older than `doomed_before`, the earliest cutoff of all
providers): its rows are then deleted at once and its remaining events follow in later
batches of the same run, instead of a recompute per batch it straddles. Matching an event
depends on that event alone, so the rows are then exactly what a rebuild from the remaining
events gives: an instance's start, duration, variant, steps and revenue follow its oldest
remaining event. Instances of builds that are no longer read (retired) lose their rows only;
the correlator purges those builds whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from flowscope.flows.correlation import rollups
from flowscope.flows.correlation.correlator import MEMBERSHIP_COLUMNS
from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.recompute import recompute
from flowscope.flows.correlation.staging import clear, copy_rows, stage
from flowscope.flows.correlation.statements import Statements

DERIVED_TABLES = ("flow_instances", "flow_instance_steps", "flow_transitions")
_MEMBERSHIPS = (
    'select build_id, correlation_id, seq, "timestamp", step, exception, properties, revenue '
    "from flow_events where build_id = %s and correlation_id = any(%s)"
)


@dataclass
class Removed:
    """Rows retention removed, per table (net of what a recompute wrote back)."""

    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    recomputed: int = 0  # recomputes of instances that lost some of their events

    def add(self, other: Removed) -> None:
        for table, n in other.rows.items():
            self.rows[table] += n
        self.recomputed += other.recomputed


def raw(session: Session) -> psycopg.Connection[Any]:
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    return driver


def forget_memberships(
    conn: psycopg.Connection[Any], seqs: Sequence[int]
) -> tuple[int, dict[int, set[str]]]:
    """Delete the memberships of events `seqs`; returns how many, and the instances touched
    per build.

    A lookup per event in `ix_flow_events_seq` (migration 0014), whatever the build sizes.
    """
    touched: dict[int, set[str]] = defaultdict(set)
    with conn.cursor() as cur:
        cur.execute(
            "delete from flow_events where seq = any(%s) returning build_id, correlation_id",
            (list(seqs),),
        )
        rows = cur.fetchall()
    for build_id, correlation_id in rows:
        touched[build_id].add(correlation_id)
    return len(rows), touched


def _count(conn: psycopg.Connection[Any], table: str, build_id: int, cids: list[str]) -> int:
    with conn.cursor() as cur:
        cur.execute(
            f"select count(*) from {table} where build_id = %s and correlation_id = any(%s)",  # noqa: S608 - a constant table name
            (build_id, cids),
        )
        row = cur.fetchone()
    return int(row[0]) if row else 0


def rederive(
    conn: psycopg.Connection[Any],
    touched: Mapping[int, set[str]],
    flows: Mapping[int, CompiledFlow],
    statements: Statements,
    doomed_before: datetime | None = None,
) -> Removed:
    """Delete the flow rows of the `touched` instances and recompute those with memberships
    left (for the builds in `flows`: the building and ready ones). Every statement is a
    primary-key prefix lookup on (build_id, correlation_id)."""
    removed = Removed()
    for build_id, cid_set in sorted(touched.items()):
        cids = sorted(cid_set)
        # before their rows go; a recompute adds back
        rollups.remove(conn, statements, build_id, cids)
        for table in DERIVED_TABLES:
            with conn.cursor() as cur:
                cur.execute(
                    f"delete from {table} where build_id = %s and correlation_id = any(%s)",  # noqa: S608 - a constant table name
                    (build_id, cids),
                )
                removed.rows[table] += cur.rowcount
        flow = flows.get(build_id)
        if flow is None:
            continue
        with conn.cursor() as cur:
            cur.execute(_MEMBERSHIPS, (build_id, cids))
            left = cur.fetchall()
        if doomed_before is not None:
            alive = {row[1] for row in left if row[3] >= doomed_before}
            left = [row for row in left if row[1] in alive]
        if not left:
            continue
        staged = stage(conn, "flow_events")
        copy_rows(conn, staged, MEMBERSHIP_COLUMNS, left)
        # every membership is "new": every row is written again
        recompute(conn, flow, staged, statements)
        clear(conn, staged)
        still = sorted({row[1] for row in left})
        removed.recomputed += len(still)
        for table in DERIVED_TABLES:
            removed.rows[table] -= _count(conn, table, build_id, still)
    return removed
