"""Set-based writes for the correlator: binary COPY, through a staging table where a row may
already exist (memberships read twice, instances recomputed).

COPY in binary with declared types is the fastest way in (see ECOSYSTEM.md: ~5× an ORM
insert), and a batch is a few round trips whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps

Columns = Sequence[tuple[str, str]]  # (column name, PostgreSQL type for binary COPY)


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def copy_rows(
    conn: psycopg.Connection[Any], table: str, columns: Columns, rows: Sequence[Sequence[Any]]
) -> None:
    """Binary COPY of `rows` into `table`."""
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c, _ in columns)
    with conn.cursor() as cur:
        set_json_dumps(_dumps, cur)
        with cur.copy(f"copy {table} ({names}) from stdin (format binary)") as copy:
            copy.set_types([t for _, t in columns])
            for row in rows:
                copy.write_row(row)


def _stage(conn: psycopg.Connection[Any], table: str) -> str:
    """A temporary copy of `table`'s columns for this connection, emptied at commit.

    Created (if missing) on every call rather than remembered: a rolled-back transaction
    takes a table created in it away again."""
    name = f"stage_{table}"
    with conn.cursor() as cur:
        cur.execute(
            f"create temporary table if not exists {name} "
            f"(like {table} including defaults) on commit delete rows"
        )
    return name


def merge_rows(
    conn: psycopg.Connection[Any],
    table: str,
    columns: Columns,
    rows: Sequence[Sequence[Any]],
    conflict: str,
) -> None:
    """COPY `rows` into a staging table, then `insert into table … select … <conflict>`."""
    if not rows:
        return
    stage = _stage(conn, table)
    copy_rows(conn, stage, columns, rows)
    names = ", ".join(f'"{c}"' for c, _ in columns)
    with conn.cursor() as cur:
        # Both parts see the same snapshot: the staging rows are moved exactly once.
        cur.execute(
            f"with moved as (insert into {table} ({names}) select {names} from {stage} "  # noqa: S608
            f"{conflict} returning 1), cleared as (delete from {stage}) "
            "select count(*) from moved"
        )


def delete_touched(
    conn: psycopg.Connection[Any], tables: Sequence[str], params: dict[str, list[Any]]
) -> None:
    """Delete the rows of the instances in `params` (`b`: build ids, `c`: correlation ids)."""
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(
                f"delete from {table} x using unnest(%(b)s::bigint[], %(c)s::text[]) as t(b, c) "  # noqa: S608
                "where x.build_id = t.b and x.correlation_id = t.c",
                params,
            )
