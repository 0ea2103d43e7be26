"""fieldsRename and expand: commands that rename a field, or turn one record into several."""

from __future__ import annotations

from typing import Protocol

from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.expressions import Col, ExprCompiler
from flowscope.query.layers import Layer
from flowscope.query.values import SQL_TYPE, T, Typed, coerce, type_name, unify
from flowscope.timeframes import Timeframe


class Wrapper(Protocol):  # the compiler, seen from here (no import cycle)
    default_timeframe: Timeframe

    def alias(self, kind: str) -> str: ...

    def wrap(self, layer: Layer) -> Layer: ...

    def exprs(self, layer: Layer) -> ExprCompiler: ...


def rename(exprs: ExprCompiler, layer: Layer, command: ast.FieldsRename) -> Layer:
    """A field of this layer keeps its place; a source field moves to the end, as fieldsAdd."""
    for new, old in command.renames:
        typed = exprs.resolve(old.name, old.pos)
        col = Col(new, typed.sql, typed.type)
        if old.name in layer.fields:
            layer.fields = {
                (new if name == old.name else name): (col if name == old.name else c)
                for name, c in layer.fields.items()
                if name != new or name == old.name
            }
            continue
        for base in layer.bases:
            if old.name.startswith(base.prefix):
                base.hidden.add(old.name)
        layer.fields.pop(new, None)
        layer.fields[new] = col
    return layer


def expand(compiler: Wrapper, layer: Layer, command: ast.Expand) -> Layer:
    """One record per element (in array order); a record whose array is empty is dropped, a
    value that is not an array stays one record, as in DQL."""
    layer = compiler.wrap(layer)
    name = command.field.name
    typed = compiler.exprs(layer).resolve(name, command.field.pos)
    alias = compiler.alias("x")
    if typed.type is T.ARRAY:
        source, kind = f"unnest({typed.sql})", T.NUMBER
    elif typed.type is T.JSON:
        array = (
            f"(case when jsonb_typeof({typed.sql}) = 'array' then {typed.sql} "
            f"else jsonb_build_array({typed.sql}) end)"
        )
        source, kind = f"jsonb_array_elements({array})", T.JSON
    else:
        raise QueryError.at(
            command.field.pos, f"expand needs an array, not a {type_name(typed.type)}"
        )
    layer.from_sql += f" cross join lateral {source} with ordinality as {alias}(v, n)"
    if layer.order:  # a sorted input stays sorted, each array's elements in their order
        layer.order = [*layer.order, (f"{alias}.n", False)]
    for base in layer.bases:
        if name.startswith(base.prefix):
            base.hidden.add(name)
    layer.fields.pop(name, None)
    layer.fields[name] = Col(name, f"{alias}.v", kind)
    return layer


def data_layer(compiler: Wrapper, data: ast.Data) -> Layer:
    """`data record(…), …` as a VALUES list: a field missing from a record is null there, and
    the records keep their order. Its timeframe is the caller's (it holds no times)."""
    layer = Layer("", {}, [], compiler.default_timeframe)
    exprs = compiler.exprs(layer)
    rows: list[dict[str, tuple[Typed, ast.Pos]]] = []
    kinds: dict[str, T] = {}
    for record in data.records:
        row: dict[str, tuple[Typed, ast.Pos]] = {}
        for item in record:
            if item.name in row:
                raise QueryError.at(item.pos, f"field '{item.name}' is given twice")
            row[item.name] = (exprs.compile(item.expr), item.pos)
            kind = kinds.get(item.name, T.NULL)
            kinds[item.name] = unify(Typed("", kind), row[item.name][0])
        rows.append(row)
    kinds = {name: T.STRING if kind is T.NULL else kind for name, kind in kinds.items()}
    values = []
    for n, row in enumerate(rows):
        cells = [str(n)]  # the record's position: a generated integer, not query text
        for name, kind in kinds.items():
            cell = row.get(name)
            where = f"field '{name}'"
            sql = coerce(cell[0], kind, cell[1], where) if cell else "null"
            cells.append(f"({sql})::{SQL_TYPE[kind]}")  # one type per column, as VALUES needs
        values.append(f"({', '.join(cells)})")
    alias = compiler.alias("d")
    columns = ", ".join(["n", *(f"c{i}" for i in range(len(kinds)))])
    layer.from_sql = f"(values {', '.join(values)}) as {alias}({columns})"
    layer.fields = {
        name: Col(name, f"{alias}.c{i}", kind) for i, (name, kind) in enumerate(kinds.items())
    }
    layer.order = [(f"{alias}.n", False)]
    return layer
