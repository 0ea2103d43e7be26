"""Commands that combine a pipeline with a [subquery]: join, append, and `x in [subquery]`;
and fieldsSummary, which turns fields into records.

The subquery compiles into its own nested SELECT with the same bound parameters, so the whole
query is still one statement: `join` is a SQL join on the key columns, `append` a UNION ALL.
"""

from __future__ import annotations

from typing import Protocol

from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.expressions import Base, Col, ExprCompiler
from flowscope.query.layers import Layer
from flowscope.query.values import SQL_TYPE, Params, T, Typed, coerce, json_text, type_name


class Combiner(Protocol):  # the compiler, seen from here (no import cycle)
    params: Params

    def alias(self, kind: str) -> str: ...

    def wrap(self, layer: Layer, extra: list[tuple[str, str]] | None = None) -> Layer: ...

    def exprs(self, layer: Layer) -> ExprCompiler: ...

    def query(self, query: ast.Query) -> Layer: ...

    def render(self, layer: Layer, items: list[tuple[str, str]], group: int = 0) -> str: ...


def in_subquery(compiler: Combiner, query: ast.Query, pos: ast.Pos) -> Typed:
    """The one field a `x in [subquery]` compares with, as a SELECT of column `v`."""
    sub = compiler.query(query)
    shown = [b for b in sub.bases if any(c.shown for c in b.source.columns)]
    if len(sub.fields) != 1 or shown:
        raise QueryError.at(
            pos, "the [subquery] of in must give one field, e.g. [fetch bizevents | fields orderId]"
        )
    (col,) = sub.fields.values()
    return Typed(compiler.render(sub, [(col.sql, "v")]), col.type)


def _key_pair(left: Typed, right: Typed, pos: ast.Pos) -> tuple[str, str]:
    """Both sides of a join condition in one SQL type: text when they differ."""
    if left.type is right.type is T.JSON:  # their text: a JSON null is no key, as a missing one
        return json_text(left.sql), json_text(right.sql)
    if left.type is right.type and left.type is not T.ARRAY:
        return left.sql, right.sql
    if T.ARRAY in (left.type, right.type):
        raise QueryError.at(pos, "join: arrays cannot be join keys")
    return coerce(left, T.STRING, pos, "the join key"), coerce(right, T.STRING, pos, "the key")


def join(compiler: Combiner, layer: Layer, command: ast.Join) -> Layer:
    """The records of both sides whose `on:` keys are equal (leftOuter: every left record,
    once per match or once with nulls); the subquery's fields come under `prefix`."""
    if layer.reshaped:
        layer = compiler.wrap(layer)
    sub = compiler.query(command.query)
    left_exprs, right_exprs = compiler.exprs(layer), compiler.exprs(sub)
    keys = []
    for left_expr, right_expr in command.on:
        pair = _key_pair(
            left_exprs.compile(left_expr), right_exprs.compile(right_expr), left_expr.pos
        )
        keys.append(pair)
    wanted: list[tuple[str, Typed]] = []
    if command.fields is not None:
        wanted = [(f.name, right_exprs.resolve(f.name, f.pos)) for f in command.fields]
    extra = [(right, f"k{i}") for i, (_, right) in enumerate(keys)]
    extra += [(typed.sql, f"f{i}") for i, (_, typed) in enumerate(wanted)]
    sub = compiler.wrap(sub, extra=extra)
    alias = sub.from_sql.rsplit(" as ", 1)[1]
    condition = " and ".join(f"{alias}.k{i} = {left}" for i, (left, _) in enumerate(keys))
    kind = "join" if command.kind == "inner" else "left join"
    layer.from_sql = f"{layer.from_sql} {kind} {sub.from_sql} on {condition}"
    added: list[Col] = []
    if command.fields is not None:
        added = [Col(name, f"{alias}.f{i}", typed.type) for i, (name, typed) in enumerate(wanted)]
    else:
        added = list(sub.fields.values())
        for base in sub.bases:
            hidden = {command.prefix + h for h in base.hidden}
            layer.bases.append(Base(base.source, command.prefix + base.prefix, base.cols, hidden))
    for col in added:
        name = command.prefix + col.name
        layer.fields.pop(name, None)
        layer.fields[name] = Col(name, col.sql, col.type)
    return layer


def append(compiler: Combiner, layer: Layer, command: ast.Append) -> Layer:
    """This pipeline's records, then the subquery's (UNION ALL). A field one side lacks is
    null there; a field with different types on the two sides becomes an attribute value."""
    sides = [compiler.wrap(layer), compiler.wrap(compiler.query(command.query))]
    kinds: dict[str, T] = {}
    for side in sides:
        for col in side.fields.values():
            known = kinds.setdefault(col.name, col.type)
            if known is T.NULL:
                kinds[col.name] = col.type
            elif col.type not in (known, T.NULL):
                kinds[col.name] = T.JSON
    bases: dict[tuple[str, str], Base] = {}
    for side in sides:
        for base in side.bases:
            key = (base.source.name, base.prefix)
            if key in bases:
                bases[key].hidden.update(base.hidden)
            else:
                bases[key] = Base(base.source, base.prefix, dict(base.cols), set(base.hidden))
    selects = []
    for n, side in enumerate(sides):
        items = [(f"{compiler.params.bind(n, 'integer')}", "side")]
        by = ", ".join(f"{sql} {'desc' if desc else 'asc'} nulls last" for sql, desc in side.order)
        items.append((f"row_number() over ({'order by ' + by if by else ''})", "n"))
        for i, (name, kind) in enumerate(kinds.items()):
            found = side.fields.get(name)
            sql = _as(found, kind) if found is not None else f"null::{SQL_TYPE.get(kind, 'text')}"
            items.append((sql, f"c{i}"))
        for j, ((source, prefix), base) in enumerate(bases.items()):
            mine = next(
                (b for b in side.bases if (b.source.name, b.prefix) == (source, prefix)), None
            )
            for k, column in enumerate(base.source.columns):
                if column.name not in base.cols:
                    continue
                if mine is not None and column.name in mine.cols:
                    sql = mine.cols[column.name]
                else:
                    sql = f"null::{SQL_TYPE.get(column.type, 'text')}"
                items.append((sql, f"b{j}_{k}"))
        select = ", ".join(f"{sql} as {name}" for sql, name in items)
        selects.append(f"select {select} from {side.from_sql}")  # noqa: S608
    alias = compiler.alias("u")
    fields = {
        name: Col(name, f"{alias}.c{i}", T.STRING if kind is T.NULL else kind)
        for i, (name, kind) in enumerate(kinds.items())
    }
    out_bases = []
    for j, base in enumerate(bases.values()):
        cols = {
            column.name: f"{alias}.b{j}_{k}"
            for k, column in enumerate(base.source.columns)
            if column.name in base.cols
        }
        out_bases.append(Base(base.source, base.prefix, cols, base.hidden))
    union = " union all ".join(f"({s})" for s in selects)
    order = [(f"{alias}.side", False), (f"{alias}.n", False)]
    return Layer(f"({union}) as {alias}", fields, out_bases, layer.timeframe, order=order)


def _as(col: Col, kind: T) -> str:
    if col.type is kind:
        return col.sql
    if col.type is T.NULL:
        return f"null::{SQL_TYPE.get(kind, 'text')}"
    if kind is T.JSON:
        if col.type is T.ARRAY:
            return f"to_jsonb({col.sql})"
        return coerce(Typed(col.sql, col.type), T.JSON, None)
    raise QueryError(f"append: field '{col.name}' is a {type_name(col.type)} on one side only")


def fields_summary(compiler: Combiner, layer: Layer, command: ast.FieldsSummary) -> Layer:
    """One record per field: `field`, `rawCount` (records), `count` (records where it is not
    null) and `values`: the `topValues` most frequent values with their counts, most first."""
    layer = compiler.wrap(layer)
    exprs = compiler.exprs(layer)
    rows = []
    for i, name in enumerate(command.names):
        typed = exprs.resolve(name.name, name.pos)
        value = typed.sql if typed.type is T.JSON else f"to_jsonb({typed.sql})"
        value = f"nullif({value}, 'null'::jsonb)"
        rows.append(f"({i}, {compiler.params.bind(name.name, 'text')}, {value})")
    top = compiler.params.bind(command.top, "bigint")
    counted = (
        "select f.i, f.name, f.v, count(*) as n, row_number() over (partition by f.i"  # noqa: S608
        f" order by (f.v is null), count(*) desc, f.v) as r from {layer.from_sql}"
        f" cross join lateral (values {', '.join(rows)}) as f(i, name, v)"
        + (f" where {' and '.join(layer.where)}" if layer.where else "")
        + " group by f.i, f.name, f.v"
    )
    values = (
        "coalesce(jsonb_agg(jsonb_build_object('value', t.v, 'count', t.n) order by t.r)"
        f" filter (where t.v is not null and t.r <= {top}), '[]'::jsonb)"
    )
    alias = compiler.alias("s")
    sql = (
        f"select t.i, t.name, (sum(t.n))::double precision as raw,"  # noqa: S608
        f" (coalesce(sum(t.n) filter (where t.v is not null), 0))::double precision as cnt,"
        f" {values} as vals from ({counted}) as t group by t.i, t.name"
    )
    fields = {
        "field": Col("field", f"{alias}.name", T.STRING),
        "rawCount": Col("rawCount", f"{alias}.raw", T.NUMBER),
        "count": Col("count", f"{alias}.cnt", T.NUMBER),
        "values": Col("values", f"{alias}.vals", T.JSON),
    }
    order = [(f"{alias}.i", False)]
    return Layer(f"({sql}) as {alias}", fields, [], layer.timeframe, order=order)
