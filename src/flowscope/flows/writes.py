"""Set-based writes for the correlator: one statement per table and batch.

Rows travel as one text array per column and are cast in SQL (`unnest(...)`): a single round
trip whatever the batch size, and no per-type array adaptation (an all-null column would
otherwise have no element type).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg

SEPARATOR = "\x1f"  # joins text[] values; step keys cannot contain it (see schemas.KEY)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return SEPARATOR.join(value)
    return orjson.dumps(value).decode()


def _cast(name: str, pg_type: str) -> str:
    if pg_type == "text[]":
        return f"string_to_array({name}, chr(31))"
    return f"{name}::{pg_type}"


def insert_rows(
    conn: psycopg.Connection[Any],
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: str = "",
) -> None:
    """`insert into table (columns) select … from unnest(one text[] per column) [conflict]`."""
    if not rows:
        return
    aliases = [f"c{i}" for i in range(len(columns))]
    casts = ", ".join(_cast(a, t) for a, (_, t) in zip(aliases, columns, strict=True))
    arrays = ", ".join(["%s::text[]"] * len(columns))
    names = ", ".join(f'"{c}"' for c, _ in columns)
    sql = (
        f"insert into {table} ({names}) select {casts} "  # noqa: S608 - names are constants
        f"from unnest({arrays}) as t({', '.join(aliases)}) {conflict}"
    )
    values = [[_text(row[i]) for row in rows] for i in range(len(columns))]
    with conn.cursor() as cur:
        cur.execute(sql, values)


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
