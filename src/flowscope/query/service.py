"""Running FQL: compile, execute read-only with a timeout and a row cap, shape the result."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import set_json_loads
from sqlalchemy.orm import Session

from flowscope.cluster.engine import Engine, engine_of
from flowscope.query.compiler import CompiledQuery, OutputColumn, compile_query
from flowscope.query.errors import QueryError
from flowscope.query.parser import parse_cached, too_deep
from flowscope.query.timeframe import caller_timeframe
from flowscope.query.values import T
from flowscope.timeframes import DEFAULT_FROM, Timeframe

# What one answer may hold. Rows are already capped (`query_row_cap`), but a row's width comes
# from the data: every distinct attribute key used to become a column of every row, so 300
# events with 300 keys of their own answered 138 MB. Beyond `MAX_COLUMNS` the keys that the
# fewest rows have are kept per row in one JSON column; rows stop once their JSON passes
# `MAX_RESULT_BYTES`, and the answer says it was truncated.
MAX_COLUMNS = 200
MAX_RESULT_BYTES = 16 * 1024 * 1024
OTHER_ATTRIBUTES = "other attributes"
FIRST_CHUNK = 20
MAX_CHUNK = 5_000
# rows per result that libpq hands over, held before they are measured (chunked mode needs
# libpq 17; older ones hand them over row by row)
STREAM_CHUNK = 100 if psycopg.pq.version() >= 170000 else 1


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
    engine: Engine = Engine.postgres,
) -> CompiledQuery:
    """Text → SQL and parameters; every mistake is a QueryError with its position."""
    now = now or datetime.now(UTC)
    timeframe = caller_timeframe(time_from, time_to, now, default_from)
    query = parse_cached(text)
    try:
        return compile_query(query, timeframe, now, row_cap, engine)
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
    max_columns: int = MAX_COLUMNS,
    max_bytes: int = MAX_RESULT_BYTES,
) -> QueryResult:
    started = time.perf_counter()
    compiled = compile_text(
        text,
        time_from=time_from,
        time_to=time_to,
        now=now,
        row_cap=row_cap,
        default_from=default_from,
        engine=engine_of(session),
    )
    compiled_at = time.perf_counter()
    named = sum(1 for c in compiled.columns if not c.attributes)
    if named > max_columns:
        raise QueryError(
            f"the result would have {named:,} columns; at most {max_columns:,} are returned: "
            "use fields to pick fewer"
        )
    raw_rows, cut, size = execute(
        session, compiled.sql, compiled.params, timeout_s, row_cap + 1, max_bytes
    )
    elapsed = time.perf_counter() - compiled_at
    columns, rows = shape(compiled.columns, raw_rows[:row_cap], max_columns)
    # Expanded attributes add a null for each key a row lacks: at most `null, ` per cell.
    # Only when that could pass the cap are the answer's rows measured one by one.
    padding = 6 * len(rows) * max(0, len(columns) - len(compiled.columns))
    kept = len(rows) if size + padding <= max_bytes else _rows_within(rows, max_bytes)
    truncated = cut or len(raw_rows) > row_cap or kept < len(rows)
    del rows[kept:]
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
    session: Session,
    sql: str,
    params: dict[str, Any],
    timeout_s: float,
    max_rows: int,
    max_bytes: int = MAX_RESULT_BYTES,
) -> tuple[list[tuple[Any, ...]], bool, int]:
    """Run `sql` in a read-only savepoint with a statement timeout; the savepoint is always
    rolled back, which also undoes the read-only mode and the timeout for the caller.

    Rows are streamed in chunks and stop once their JSON passes `max_bytes`
    (the second value says so; the third is their size): a query that widens rows (`concat`
    of a large attribute, many wide events) never holds much more than `max_bytes` of rows.
    """
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    deadline = time.monotonic() + timeout_s
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
            return _fetch(driver, sql, params, max_rows, max_bytes, deadline, timeout_s)
        except pg_errors.QueryCanceled:
            raise _timed_out(timeout_s) from None
        except pg_errors.DataError as exc:
            detail = (exc.diag.message_primary or "invalid value").rstrip(".")
            raise QueryError(
                f"a value could not be converted while running the query: {detail}"
            ) from None
        except psycopg.OperationalError as exc:
            if not (exc.sqlstate or "").startswith("54"):  # program limit exceeded (class 54)
                raise
            # e.g. concat() of over 100 values
            detail = (exc.diag.message_primary or "a limit was exceeded").rstrip(".")
            raise QueryError(f"the query is too large for the database: {detail}") from None
        finally:
            cur.execute("rollback to savepoint fql_query; release savepoint fql_query")


class _JsonBytes(threading.local):
    count = 0


_json_bytes = _JsonBytes()


def _counting_loads(data: bytes | str) -> Any:
    """json.loads that counts the JSON text it reads: the size of attribute values for free
    (measuring them again with json.dumps cost a third of a 10,000-row fetch)."""
    _json_bytes.count += len(data)
    return json.loads(data)


def _plain_size(rows: list[tuple[Any, ...]]) -> int:
    """About the JSON size of the cells that are not JSON (those are counted as loaded)."""
    size = 0
    for row in rows:
        for cell in row:
            if isinstance(cell, str):
                size += len(cell) + 4
            elif isinstance(cell, list):  # arrays of aggregates (and JSON arrays, twice)
                size += _json_size(cell) + 2
            elif not isinstance(cell, dict):
                size += 36  # a timestamp as ISO text, a number, null
    return size


def _json_size(row: Any) -> int:
    return len(json.dumps(row, default=str, ensure_ascii=False))


def _rows_within(rows: list[list[Any]], max_bytes: int) -> int:
    """How many of the first rows fit in `max_bytes` of JSON (at least one)."""
    size = 0
    for n, row in enumerate(rows):
        size += _json_size(row)
        if size > max_bytes:
            return max(n, 1)
    return len(rows)


def _timed_out(timeout_s: float) -> QueryError:
    return QueryError(
        f"the query ran longer than {timeout_s:g} s and was stopped: "
        "narrow the timeframe or filter earlier"
    )


def _fetch(
    driver: psycopg.Connection[Any],
    sql: str,
    params: dict[str, Any],
    max_rows: int,
    max_bytes: int,
    deadline: float,
    timeout_s: float,
) -> tuple[list[tuple[Any, ...]], bool, int]:
    """(rows, whether the byte cap cut them, their JSON size).

    Rows are streamed (libpq chunked mode), not read through a server-side cursor:
    PostgreSQL never plans a DECLAREd cursor in parallel, which made scans and aggregations
    up to 1.5× slower than the same SQL run plainly. They are measured in chunks: the first
    is small, in case rows are huge; later ones are sized to the room left at the average row
    size so far, so no chunk holds much more than the cap. Stopping early cancels the query.
    """
    rows: list[tuple[Any, ...]] = []
    size = 0
    wanted = FIRST_CHUNK
    with driver.cursor() as cursor:
        set_json_loads(_counting_loads, cursor)
        # compiled SQL: no user text; `stream` is a generator (typed as an iterator)
        stream = cast(Generator[Any], cursor.stream(sql, params, size=STREAM_CHUNK))
        with closing(stream):  # closed early, it cancels the query and drains the connection
            while len(rows) < max_rows:
                wanted = min(wanted, max_rows - len(rows))
                _json_bytes.count = 0
                chunk = list(islice(stream, wanted))
                chunk_size = _json_bytes.count + _plain_size(chunk)
                if size + chunk_size > max_bytes:  # the cap falls inside this chunk: where?
                    for row in chunk:
                        size += _json_size(row)
                        if size > max_bytes:
                            break
                        rows.append(row)
                    if not rows:
                        raise QueryError(
                            f"one row of the result is over {max_bytes:,} bytes of JSON: "
                            "pick fewer or smaller fields"
                        )
                    return rows, True, size
                rows.extend(chunk)
                size += chunk_size
                if len(chunk) < wanted:
                    break
                if time.monotonic() > deadline:  # the statement has the timeout; all rows too
                    raise _timed_out(timeout_s)
                average = max(1, size // len(rows))
                wanted = max(1, min(MAX_CHUNK, (max_bytes - size) // average))
    return rows, False, size


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


def _attribute_keys(
    column: OutputColumn, i: int, raw_rows: list[tuple[Any, ...]], budget: int
) -> tuple[list[str], bool]:
    """The keys that become columns (sorted by name), and whether others are left over.

    Over the budget, the keys found in the most rows win; the rest go to one JSON column."""
    counts: Counter[str] = Counter()
    for raw in raw_rows:
        if isinstance(raw[i], dict):
            counts.update(k for k in raw[i] if column.prefix + k not in column.skip)
    if len(counts) <= budget:
        return sorted(counts), False  # JSONB keeps keys by length, not as sent: sort by name
    common = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: max(0, budget - 1)]
    return sorted(key for key, _ in common), True


def shape(
    columns: list[OutputColumn],
    raw_rows: list[tuple[Any, ...]],
    max_columns: int = MAX_COLUMNS,
) -> tuple[list[dict[str, str]], list[list[Any]]]:
    """Rows as lists of JSON values; attribute columns expand into one column per key, at
    most `max_columns` in all, the keys beyond in one `other attributes` JSON column."""
    expanded: dict[int, list[str]] = {}
    overflow: set[int] = set()
    budget = max_columns - sum(1 for c in columns if not c.attributes)
    for i, column in enumerate(columns):
        if column.attributes:
            expanded[i], over = _attribute_keys(column, i, raw_rows, budget)
            budget -= len(expanded[i]) + over
            if over:
                overflow.add(i)
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
        if i in overflow:
            out_columns.append({"name": column.prefix + OTHER_ATTRIBUTES, "type": T.JSON.value})
    rows = []
    for raw in raw_rows:
        row: list[Any] = []
        for i, value in enumerate(raw):
            if i in expanded:
                attrs = value if isinstance(value, dict) else {}
                row.extend(attrs.get(key) for key in expanded[i])
                if i in overflow:
                    shown = set(expanded[i])
                    column = columns[i]
                    rest = {
                        k: v
                        for k, v in attrs.items()
                        if k not in shown and column.prefix + k not in column.skip
                    }
                    row.append(rest or None)
            else:
                row.append(_cell(value))
        rows.append(row)
    return out_columns, rows
