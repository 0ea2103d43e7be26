"""Events → memberships (in Python, per compiled flow) → recomputed instance rows.

`recompute_staged` is the one place where instance rows are recomputed, for the live path
and for a rebuild's materialization alike: whatever else must follow a recompute hooks in
there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.recompute import recompute
from flowscope.flows.correlation.staging import clear, copy_rows, insert_staged, stage
from flowscope.flows.correlation.statements import Statements, statements_for

MEMBERSHIP_COLUMNS = [
    ("build_id", "int8"),
    ("correlation_id", "text"),
    ("seq", "int8"),
    ("timestamp", "timestamptz"),
    ("step", "text"),
    ("exception", "text"),
    ("properties", "jsonb"),
    ("revenue", "numeric"),
]


def raw(session: Session) -> psycopg.Connection[Any]:
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    return driver


def memberships(
    flows: Sequence[CompiledFlow], rows: Iterable[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The memberships of `rows` (events) in `flows`, as rows of MEMBERSHIP_COLUMNS."""
    found: list[tuple[Any, ...]] = []
    for seq, provider, type_, timestamp, attributes, *_ in rows:
        for flow in flows:
            match = flow.match(provider, type_, attributes)
            if match is not None:
                found.append(
                    (
                        flow.build_id,
                        match.correlation_id,
                        seq,
                        timestamp,
                        match.step,
                        match.exception,
                        match.properties,
                        match.revenue,
                    )
                )
    return found


def recompute_staged(
    conn: psycopg.Connection[Any],
    flows: Sequence[CompiledFlow],
    staged: str,
    statements: Statements,
) -> None:
    """Recompute the instances of `flows` (their builds) that have memberships in the table
    `staged`, with the statements of the connection's engine."""
    for flow in sorted(flows, key=lambda f: f.build_id):
        recompute(conn, flow, staged, statements)


def apply_memberships(
    conn: psycopg.Connection[Any],
    flows: Sequence[CompiledFlow],
    found: list[tuple[Any, ...]],
    statements: Statements,
) -> int:
    """Store `found` (memberships; a re-read one is skipped by its key) and recompute the
    instances they touch."""
    if not found:
        return 0
    # Staged first: the recompute reads the new memberships from there to know what changed.
    staged = stage(conn, "flow_events")
    copy_rows(conn, staged, MEMBERSHIP_COLUMNS, found)
    insert_staged(conn, "flow_events", staged, MEMBERSHIP_COLUMNS, "on conflict do nothing")
    touched = {m[0] for m in found}
    recompute_staged(conn, [f for f in flows if f.build_id in touched], staged, statements)
    clear(conn, staged)
    return len(found)


def apply_events(
    session: Session, flows: Sequence[CompiledFlow], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Record the memberships of `rows` (events) in `flows` and recompute touched instances."""
    found = memberships(flows, rows)
    return apply_memberships(raw(session), flows, found, statements_for(session))
