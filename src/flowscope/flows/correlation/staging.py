"""Set-based writes for the correlator: binary COPY into a per-connection staging table, then
one `insert … select` (a membership read twice is skipped by its key).

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


def stage(conn: psycopg.Connection[Any], table: str) -> str:
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


def insert_staged(
    conn: psycopg.Connection[Any], table: str, staged: str, columns: Columns, conflict: str
) -> None:
    """`insert into table … select … from staged <conflict>` (the staged rows stay)."""
    names = ", ".join(f'"{c}"' for c, _ in columns)
    with conn.cursor() as cur:
        cur.execute(
            f"insert into {table} ({names}) select {names} from {staged} {conflict}"  # noqa: S608
        )


def clear(conn: psycopg.Connection[Any], staged: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"delete from {staged}")  # noqa: S608 - a name from `stage`
