"""Running FQL: compile, execute read-only with a timeout and a row cap, shape the result."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy.orm import Session

from flowscope.query.compiler import CompiledQuery, OutputColumn, compile_query
from flowscope.query.errors import QueryError
from flowscope.query.parser import parse_cached, too_deep
from flowscope.query.timeframe import caller_timeframe
from flowscope.query.values import T
from flowscope.timeframes import DEFAULT_FROM, Timeframe


@dataclass
class QueryResult:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float
    compile_ms: float
    timeframe: Timeframe
    interval_ns: int | None = None
    series_timeframe: Timeframe | None = None

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": self.row_count,
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "timeframe": self.timeframe.as_dict(),
        }
        if self.interval_ns is not None and self.series_timeframe is not None:
            body["timeframe"] = self.series_timeframe.as_dict()
            body["interval"] = self.interval_ns
            body["query_timeframe"] = self.timeframe.as_dict()
        return body


def compile_text(
    text: str,
    *,
    time_from: str | None = None,
    time_to: str | None = None,
    now: datetime | None = None,
    row_cap: int = 10_000,
    default_from: str = DEFAULT_FROM,
) -> CompiledQuery:
    """Text → SQL and parameters; every mistake is a QueryError with its position."""
    now = now or datetime.now(UTC)
    timeframe = caller_timeframe(time_from, time_to, now, default_from)
    query = parse_cached(text)
    try:
        return compile_query(query, timeframe, now, row_cap)
    except RecursionError:
        raise too_deep() from None


def run_query(
    session: Session,
    text: str,
    *,
    time_from: str | None = None,
    time_to: str | None = None,
    timeout_s: float = 10.0,
    row_cap: int = 10_000,
    default_from: str = DEFAULT_FROM,
    now: datetime | None = None,
) -> QueryResult:
    started = time.perf_counter()
    compiled = compile_text(
        text,
        time_from=time_from,
        time_to=time_to,
        now=now,
        row_cap=row_cap,
        default_from=default_from,
    )
    compiled_at = time.perf_counter()
    raw_rows = execute(session, compiled.sql, compiled.params, timeout_s, row_cap + 1)
    elapsed = time.perf_counter() - compiled_at
    truncated = len(raw_rows) > row_cap
    columns, rows = shape(compiled.columns, raw_rows[:row_cap])
    return QueryResult(
        columns,
        rows,
        truncated,
        elapsed * 1000,
        (compiled_at - started) * 1000,
        compiled.timeframe,
        compiled.interval_ns,
        compiled.series_timeframe,
    )


def execute(
    session: Session, sql: str, params: dict[str, Any], timeout_s: float, max_rows: int
) -> list[tuple[Any, ...]]:
    """Run `sql` in a read-only savepoint with a statement timeout; the savepoint is always
    rolled back, which also undoes the read-only mode and the timeout for the caller."""
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    # A savepoint of our own (SQLAlchemy does not see it): rolling back to it restores the
    # transaction's read-write mode and timeout, and clears any error of the query.
    with driver.cursor() as cur:
        timeout_ms = max(1, math.ceil(timeout_s * 1000))  # an int of ours, not user text
        # one round trip to set up (a simple-protocol batch), one for the query, one to undo
        cur.execute(
            f"savepoint fql_query; set transaction read only; "
            f"set local statement_timeout = {timeout_ms:d}"
        )
        try:
            cur.execute(sql, params)  # compiled SQL: no user text
            return cur.fetchmany(max_rows)
        except pg_errors.QueryCanceled:
            raise QueryError(
                f"the query ran longer than {timeout_s:g} s and was stopped: "
                "narrow the timeframe or filter earlier"
            ) from None
        except pg_errors.DataError as exc:
            detail = (exc.diag.message_primary or "invalid value").rstrip(".")
            raise QueryError(
                f"a value could not be converted while running the query: {detail}"
            ) from None
        finally:
            cur.execute("rollback to savepoint fql_query; release savepoint fql_query")


# --- shaping rows for JSON -----------------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, list):
        return [_cell(v) for v in value]
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return T.BOOLEAN.value
    if isinstance(value, int | float):
        return T.NUMBER.value
    if isinstance(value, str):
        return T.STRING.value
    return T.JSON.value


def shape(
    columns: list[OutputColumn], raw_rows: list[tuple[Any, ...]]
) -> tuple[list[dict[str, str]], list[list[Any]]]:
    """Rows as lists of JSON values; attribute columns expand into one column per key."""
    expanded: dict[int, list[str]] = {}
    for i, column in enumerate(columns):
        if column.attributes:
            keys: dict[str, None] = {}
            for raw in raw_rows:
                if isinstance(raw[i], dict):
                    keys.update(
                        dict.fromkeys(k for k in raw[i] if column.prefix + k not in column.skip)
                    )
            expanded[i] = sorted(keys)  # JSONB keeps keys by length, not as sent: sort by name
    out_columns: list[dict[str, str]] = []
    for i, column in enumerate(columns):
        if i not in expanded:
            kind = column.type.value
            if column.type is T.JSON:  # attribute values: name the type the rows hold
                sample = next((r[i] for r in raw_rows if r[i] is not None), None)
                kind = _json_type(sample)
            out_columns.append({"name": column.name, "type": kind})
            continue
        for key in expanded[i]:
            sample = next(
                (
                    r[i][key]
                    for r in raw_rows
                    if isinstance(r[i], dict) and r[i].get(key) is not None
                ),
                None,
            )
            out_columns.append({"name": column.prefix + key, "type": _json_type(sample)})
    rows = []
    for raw in raw_rows:
        row: list[Any] = []
        for i, value in enumerate(raw):
            if i in expanded:
                attrs = value if isinstance(value, dict) else {}
                row.extend(attrs.get(key) for key in expanded[i])
            else:
                row.append(_cell(value))
        rows.append(row)
    return out_columns, rows
