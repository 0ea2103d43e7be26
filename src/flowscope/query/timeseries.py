"""makeTimeseries: aggregations per time bin, as arrays, with the timeframe and interval."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from flowscope.cluster.engine import Engine
from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.expressions import Col, ExprCompiler, Mode
from flowscope.query.functions import COUNTING
from flowscope.query.layers import Layer
from flowscope.query.values import Params, T, coerce, json_number
from flowscope.timeframes import Timeframe

NS = 1_000_000_000
_NICE_INTERVALS_S = (
    (1, 2, 5, 10, 15, 30)
    + tuple(60 * m for m in (1, 2, 5, 10, 15, 30))
    + tuple(3600 * h for h in (1, 2, 3, 6, 12))
    + tuple(86400 * d for d in (1, 2, 7))
)
DEFAULT_BINS = 120
_PER_BIN = frozenset({T.NUMBER, T.DURATION, T.JSON, T.NULL})
MAX_BINS = 10_000


class SeriesCompiler(Protocol):
    """What makeTimeseries uses of `query.compiler.Compiler`, stated here so that this module
    does not import the compiler, which imports it."""

    params: Params
    engine: Engine
    interval_ns: int | None
    series_timeframe: Timeframe | None

    def alias(self, kind: str) -> str: ...

    def exprs(self, layer: Layer) -> ExprCompiler: ...

    def render(self, layer: Layer, items: list[tuple[str, str]], group: int = 0) -> str: ...

    def wrap(self, layer: Layer, extra: list[tuple[str, str]] | None = None) -> Layer: ...

    def _named(
        self, exprs: ExprCompiler, items: tuple[ast.Assign, ...], mode: Mode, seen: set[str]
    ) -> list[Col]: ...


def make_timeseries(compiler: SeriesCompiler, layer: Layer, command: ast.MakeTimeseries) -> Layer:
    """One row per `by:` group with an array per aggregation, a value per bin.

    Bins are aligned to whole intervals since the epoch; empty bins count 0 (counting
    aggregations) or null. The SQL aggregates per (group, bin), then fills the grid of all
    groups × bins with a left join.
    """
    if layer.reshaped:
        layer = compiler.wrap(layer)
    exprs = compiler.exprs(layer)
    time_name = command.time.name if command.time else "timestamp"
    time_pos = command.time.pos if command.time else command.pos
    time_sql = coerce(exprs.resolve(time_name, time_pos), T.TIMESTAMP, time_pos, "time:")
    interval_ns, start, bins = _bins(layer.timeframe, command)
    end = datetime.fromtimestamp((start + interval_ns * bins) / NS, UTC)
    start_dt = datetime.fromtimestamp(start / NS, UTC)
    start_sql = compiler.params.bind(start_dt, "timestamptz")
    end_sql = compiler.params.bind(end, "timestamptz")
    seconds_sql = compiler.params.bind(interval_ns / NS, "double precision")
    bins_sql = compiler.params.bind(bins, "integer")

    seen: set[str] = set()
    keys = compiler._named(exprs, command.by, Mode.ROW, seen)
    values = compiler._named(exprs, command.aggregates, Mode.AGG, seen)
    for assign, col in zip(command.aggregates, values, strict=True):
        if col.type not in _PER_BIN:  # a bin holds one number: not an array, text or time
            kind = "an array" if col.type is T.ARRAY else f"a {col.type.value}"
            hint = ": use percentile(x, 90) once per percentile" if col.type is T.ARRAY else ""
            raise QueryError.at(
                assign.pos,
                f"makeTimeseries: '{assign.name}' gives {kind}, but a bin holds a number{hint}",
            )
    bucket = f"floor(extract(epoch from ({time_sql} - {start_sql})) / {seconds_sql})::integer"
    items = [(c.sql, f"k{i}") for i, c in enumerate(keys)] + [(bucket, "bin")]
    items += [(c.sql, f"a{i}") for i, c in enumerate(values)]
    window = replace(layer, order=[], where=[*layer.where, f"{time_sql} >= {start_sql}"])
    window.where.append(f"{time_sql} < {end_sql}")
    per_bin = compiler.render(window, items, group=len(keys) + 1)

    key_cols = [f"k{i}" for i in range(len(keys))]
    elements = []
    for i, assign in enumerate(command.aggregates):
        default = _default(assign.expr)
        fill = None
        if default is not None:  # count(default: 5): the value of an empty bin
            fill = coerce(exprs.compile(default.expr, Mode.INNER), T.NUMBER, default.pos)
        elements.append(_Element(values[i].type is T.JSON, fill, _counting(assign.expr)))
    sql = _per_group(compiler.engine, per_bin, key_cols, elements, bins_sql)
    alias = compiler.alias("s")
    fields: dict[str, Col] = {
        "timeframe": Col(
            "timeframe",
            f"jsonb_build_object('start', {start_sql}, 'end', {end_sql})",
            T.JSON,
        ),
        "interval": Col("interval", compiler.params.bind(interval_ns, "bigint"), T.DURATION),
    }
    for i, col in enumerate(keys):
        fields[col.name] = Col(col.name, f"{alias}.k{i}", col.type)
    for i, col in enumerate(values):
        fields[col.name] = Col(col.name, f"{alias}.a{i}", T.ARRAY)
    compiler.interval_ns = interval_ns
    compiler.series_timeframe = Timeframe(start_dt, end)
    # one row per group, in a stable order (DQL's order does not change between runs)
    order = [(f"{alias}.k{i}", False) for i in range(len(keys))]
    return Layer(f"({sql}) as {alias}", fields, [], layer.timeframe, order=order)


@dataclass(frozen=True)
class _Element:
    """How one aggregation's value of a bin becomes an element of its array."""

    json: bool  # the aggregation answers JSON: read a number out of it
    fill: str | None  # SQL of `default:`, the value of an empty bin
    counting: bool  # an empty bin counts 0

    def sql(self, value: str) -> str:
        if self.json:
            value = json_number(value)
        if self.fill is not None:
            return f"coalesce(({value})::double precision, {self.fill})"
        if self.counting:
            return f"coalesce({value}, 0)::bigint"
        return f"({value})::double precision"


def _per_group(
    engine: Engine, per_bin: str, key_cols: list[str], elements: list[_Element], bins_sql: str
) -> str:
    """One row per group (its keys k0…, an array a0… per aggregation, one element per bin of the
    grid) from `per_bin`'s rows (keys, bin, a0…), which hold only the bins that have events.

    GROUP BY puts null keys together, so a group's bins are collected per group first and the
    grid is filled from them: its cost is groups × bins however many groups there are.

    - PostgreSQL: the bins and values as arrays, the grid (`generate_series`) left-joined to
      their `unnest` per group (a hash join of two function scans).
    - Citus 13.2 crashes (segfault, coordinator restarts) planning a join of two function scans
      in a lateral subquery over a distributed table, so there each value is collected into a
      jsonb object keyed by bin and the grid reads it by key: no join (1.5× slower than the
      PostgreSQL form at 2,000 groups × 120 bins, measured on plain PostgreSQL).
    """
    group = f" group by {', '.join(key_cols)}" if key_cols else ""
    names = [f"a{i}" for i in range(len(elements))]
    if engine is Engine.citus:
        collected = ", ".join([*key_cols, *(f"jsonb_object_agg(bin, {a}) as {a}" for a in names)])
        arrays = [
            f"array_agg({e.sql(_by_key(e, f'g.{a}'))} order by i.i) as {a}"
            for a, e in zip(names, elements, strict=True)
        ]
        per_group = f"select {', '.join(arrays)} from generate_series(0, {bins_sql} - 1) as i(i)"  # noqa: S608
    else:
        collected = ", ".join(
            [*key_cols, "array_agg(bin) as bins", *(f"array_agg({a}) as {a}" for a in names)]
        )
        arrays = [
            f"array_agg({e.sql(f'x.{a}')} order by i.i) as {a}"
            for a, e in zip(names, elements, strict=True)
        ]
        unnest = f"unnest(g.bins, {', '.join('g.' + a for a in names)})"
        per_group = (
            f"select {', '.join(arrays)} from generate_series(0, {bins_sql} - 1) as i(i) "  # noqa: S608
            f"left join {unnest} as x(bin, {', '.join(names)}) on x.bin = i.i"
        )
    select = ", ".join([f"g.{k} as {k}" for k in key_cols] + [f"v.{a} as {a}" for a in names])
    return (
        f"select {select} from (select {collected} from ({per_bin}) as t{group}) as g "  # noqa: S608
        f"cross join lateral ({per_group}) as v"
    )


def _by_key(element: _Element, obj: str) -> str:
    """The bin `i.i`'s value in the jsonb object `obj`: jsonb itself for a JSON aggregation,
    else its number (exact: jsonb keeps numbers as numeric, and a double's text round-trips;
    NaN and infinities are kept as strings, which numeric reads back)."""
    return f"({obj} -> (i.i::text))" if element.json else f"({obj} ->> (i.i::text))::numeric"


def _bins(timeframe: Timeframe, command: ast.MakeTimeseries) -> tuple[int, int, int]:
    """(interval in ns, aligned start in ns since the epoch, number of bins)."""
    start = int(timeframe.start.timestamp() * 1_000_000) * 1000
    end = int(timeframe.end.timestamp() * 1_000_000) * 1000
    if command.interval is not None:
        assert isinstance(command.interval.value, int)  # noqa: S101 - durations are int
        interval = command.interval.value
        if interval < NS:
            raise QueryError.at(command.interval.pos, "interval: must be at least 1s")
    else:
        wanted = DEFAULT_BINS
        if command.bins is not None:
            value = command.bins.value
            if not isinstance(value, int) or not 1 <= value <= MAX_BINS:
                raise QueryError.at(
                    command.bins.pos, f"bins: must be a whole number from 1 to {MAX_BINS}"
                )
            wanted = value
        raw_s = (end - start) / NS / wanted
        nice = next((s for s in _NICE_INTERVALS_S if s >= raw_s), None)
        interval = (nice or math.ceil(raw_s / 86400) * 86400) * NS
    aligned = start - start % interval
    bins = max(1, math.ceil((end - aligned) / interval))
    if bins > MAX_BINS:
        where = command.interval.pos if command.interval else command.pos
        raise QueryError.at(
            where, f"the interval gives {bins} bins for this timeframe; at most {MAX_BINS}"
        )
    return interval, aligned, bins


# --- result ------------------------------------------------------------------------


def _default(expr: ast.Expr) -> ast.NamedArg | None:
    if isinstance(expr, ast.Call):
        return next((n for n in expr.named if n.name == "default"), None)
    return None


def _counting(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Call) and expr.name in COUNTING
