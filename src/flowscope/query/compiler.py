"""A checked FQL query → one PostgreSQL SELECT with bound parameters.

(S608 is silenced on the lines that assemble SQL: they join generated fragments only.)

The pipeline is compiled into nested SELECTs ("layers"). Commands that only narrow or extend
rows (filter, fieldsAdd, sort, limit) edit the current layer; commands that reshape rows
(summarize, makeTimeseries, dedup, and a filter after a limit) close it into a subquery and
start a new one. PostgreSQL flattens the simple subqueries again, so the nesting costs nothing.

Every SQL identifier here is generated (e1, s2, c3, …) or a constant of `sources.py`; field
names from the query only ever become dictionary keys on the Python side.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from flowscope.cluster.engine import Engine
from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.expressions import Base, Col, ExprCompiler, Mode
from flowscope.query.joins import append, fields_summary, in_subquery, join
from flowscope.query.layers import CompiledQuery, Layer, OutputColumn
from flowscope.query.parse_command import parse_fields
from flowscope.query.reshape import data_layer, expand, rename
from flowscope.query.sources import NOT_YET, SOURCES
from flowscope.query.timeframe import checked, eval_time
from flowscope.query.timeseries import make_timeseries
from flowscope.query.values import SQL_TYPE, Params, T, Typed, coerce, json_text
from flowscope.timeframes import Timeframe

__all__ = ["CompiledQuery", "Compiler", "Layer", "OutputColumn", "compile_query"]


class Compiler:
    def __init__(
        self, timeframe: Timeframe, now: datetime, engine: Engine = Engine.postgres
    ) -> None:
        self.params = Params()
        self.engine = engine
        self.default_timeframe = timeframe
        self.now = now
        self._now_sql: str | None = None
        self._aliases = 0
        self.interval_ns: int | None = None
        self.series_timeframe: Timeframe | None = None

    # --- plumbing ----------------------------------------------------------------------

    def alias(self, kind: str) -> str:
        self._aliases += 1
        return f"{kind}{self._aliases}"

    def now_sql(self) -> str:
        if self._now_sql is None:
            self._now_sql = self.params.bind(self.now, "timestamptz")
        return self._now_sql

    def exprs(self, layer: Layer) -> ExprCompiler:
        return ExprCompiler(
            self.params,
            layer.fields,
            layer.bases,
            self.now_sql,
            layer.record_order(),
            lambda query, pos: in_subquery(self, query, pos),
        )

    def render(self, layer: Layer, items: list[tuple[str, str]], group: int = 0) -> str:
        select = ", ".join(f"{sql} as {alias}" for sql, alias in items) or "1 as c0"
        distinct = f"distinct on ({', '.join(layer.distinct_on)}) " if layer.distinct_on else ""
        sql = f"select {distinct}{select} from {layer.from_sql}"  # noqa: S608
        if layer.where:
            sql += " where " + " and ".join(layer.where)
        if group:
            sql += " group by " + ", ".join(str(i + 1) for i in range(group))
        if layer.order:
            sql += " order by " + ", ".join(
                f"{expr} {'desc' if desc else 'asc'} nulls last" for expr, desc in layer.order
            )
        if layer.limit_param is not None:
            sql += f" limit {layer.limit_param}"
        return sql

    def wrap(
        self, layer: Layer, extra: list[tuple[str, str]] | None = None, *, ordered: bool = True
    ) -> Layer:
        """Close `layer` into a subquery; fields, open sources and sort order carry over.

        `ordered=False`: the caller sorts by the carried-over order itself, so the subquery
        need not (unless a limit or distinct on depends on its order)."""
        alias = self.alias("s")
        items: list[tuple[str, str]] = []
        fields: dict[str, Col] = {}
        for i, col in enumerate(layer.fields.values()):
            items.append((col.sql, f"c{i}"))
            fields[col.name] = Col(col.name, f"{alias}.c{i}", col.type)
        bases = []
        for j, base in enumerate(layer.bases):
            cols = {}
            for k, (name, sql) in enumerate(base.cols.items()):
                items.append((sql, f"b{j}_{k}"))
                cols[name] = f"{alias}.b{j}_{k}"
            bases.append(Base(base.source, base.prefix, cols, set(base.hidden)))
        order = []
        for k, (sql, desc) in enumerate(layer.order):
            items.append((sql, f"o{k}"))
            order.append((f"{alias}.o{k}", desc))
        items.extend(extra or [])
        unsorted = not ordered and layer.limit_param is None and not layer.distinct_on
        inner = self.render(replace(layer, order=[]) if unsorted else layer, items)
        return Layer(f"({inner}) as {alias}", fields, bases, layer.timeframe, order=order)

    # --- queries -----------------------------------------------------------------------

    def query(self, query: ast.Query) -> Layer:
        if isinstance(query.fetch, ast.Data):
            layer = data_layer(self, query.fetch)
        else:
            layer = self.fetch(query.fetch)
        for command in query.commands:
            layer = self.command(layer, command)
        return layer

    def fetch(self, fetch: ast.Fetch) -> Layer:
        if fetch.source in NOT_YET:
            raise QueryError.at(fetch.pos, NOT_YET[fetch.source])
        source = SOURCES.get(fetch.source)
        if source is None:
            known = ", ".join(sorted(SOURCES))
            raise QueryError.at(
                fetch.pos, f"unknown data source '{fetch.source}' (data sources: {known})"
            )
        start, end = self.default_timeframe.start, self.default_timeframe.end
        if fetch.time_from is not None:
            start = eval_time(fetch.time_from, self.now, "from")
        if fetch.time_to is not None:
            end = eval_time(fetch.time_to, self.now, "to")
        where_pos = fetch.time_from.pos if fetch.time_from is not None else fetch.pos
        timeframe = checked(Timeframe(start, end), where_pos)
        alias = self.alias("e")
        cols = {
            c.name: c.sql.format(t=alias, now=self.now_sql() if "{now}" in c.sql else "")
            for c in source.columns
        }
        time_sql = cols[source.time_column]
        where = [
            f"{time_sql} >= {self.params.bind(timeframe.start, 'timestamptz')}",
            f"{time_sql} < {self.params.bind(timeframe.end, 'timestamptz')}",
        ]
        base = Base(source, "", cols)
        return Layer(f"{source.table} as {alias}", {}, [base], timeframe, where=where)

    def command(self, layer: Layer, command: ast.Command) -> Layer:
        if isinstance(command, ast.Filter):
            if layer.reshaped:
                layer = self.wrap(layer)
            condition = coerce(
                self.exprs(layer).compile(command.condition),
                T.BOOLEAN,
                command.condition.pos,
                "the filter condition",
            )
            # filterOut keeps records whose condition is false or null (unknown)
            layer.where.append(f"(({condition}) is not true)" if command.negate else condition)
            return layer
        if isinstance(command, ast.Fields):
            return self.fields(layer, command)
        if isinstance(command, ast.FieldsRemove):
            return self.fields_remove(layer, command)
        if isinstance(command, ast.FieldsRename):
            return rename(self.exprs(layer), layer, command)
        if isinstance(command, ast.Expand):
            return expand(self, layer, command)
        if isinstance(command, ast.Summarize):
            return self.summarize(layer, command.aggregates, command.by)
        if isinstance(command, ast.Sort):
            if layer.reshaped:
                layer = self.wrap(layer)
            exprs = self.exprs(layer)
            layer.order = [(exprs.compile(k.expr).sql, k.descending) for k in command.keys]
            return layer
        if isinstance(command, ast.Limit):
            if layer.limit_param is not None:
                layer = self.wrap(layer)
            assert isinstance(command.count.value, int)  # noqa: S101 - checked by the builder
            layer.limit_value = command.count.value
            layer.limit_param = self.params.bind(command.count.value, "bigint")
            return layer
        if isinstance(command, ast.Dedup):
            return self.dedup(layer, command)
        if isinstance(command, ast.Lookup):
            return self.lookup(layer, command)
        if isinstance(command, ast.Join):
            return join(self, layer, command)
        if isinstance(command, ast.Append):
            return append(self, layer, command)
        if isinstance(command, ast.FieldsSummary):
            return fields_summary(self, layer, command)
        if isinstance(command, ast.Parse):
            return parse_fields(self, layer, command)
        return make_timeseries(self, layer, command)

    # --- commands ----------------------------------------------------------------------

    def fields(self, layer: Layer, command: ast.Fields) -> Layer:
        exprs = self.exprs(layer)
        if command.keep_others:
            # one after the other: a field may use the ones added before it in the command
            for assign in command.items:
                typed = exprs.compile(assign.expr)
                layer.fields.pop(assign.name, None)  # a replaced field moves to the end
                layer.fields[assign.name] = Col(assign.name, typed.sql, typed.type)
            return layer
        compiled = [(a, exprs.compile(a.expr)) for a in command.items]
        fresh: dict[str, Col] = {}
        for assign, typed in compiled:
            fresh[assign.name] = Col(assign.name, typed.sql, typed.type)
        return replace(layer, fields=fresh, bases=[])

    def fields_remove(self, layer: Layer, command: ast.FieldsRemove) -> Layer:
        exprs = self.exprs(layer)
        for name in command.names:
            exprs.resolve(name.name, name.pos)  # unknown names are an error, as elsewhere
            layer.fields.pop(name.name, None)
            for base in layer.bases:
                if name.name.startswith(base.prefix):
                    base.hidden.add(name.name)
        return layer

    def _named(
        self, exprs: ExprCompiler, items: tuple[ast.Assign, ...], mode: Mode, seen: set[str]
    ) -> list[Col]:
        out = []
        for assign in items:
            if assign.name in seen:
                raise QueryError.at(assign.pos, f"field '{assign.name}' is defined twice")
            seen.add(assign.name)
            typed = exprs.compile(assign.expr, mode)
            out.append(Col(assign.name, typed.sql, typed.type))
        return out

    def summarize(
        self, layer: Layer, aggregates: tuple[ast.Assign, ...], by: tuple[ast.Assign, ...]
    ) -> Layer:
        if layer.reshaped:
            layer = self.wrap(layer)
        exprs = self.exprs(layer)
        seen: set[str] = set()
        keys = self._named(exprs, by, Mode.ROW, seen)
        values = self._named(exprs, aggregates, Mode.AGG, seen)
        cols = keys + values
        items = [(col.sql, f"c{i}") for i, col in enumerate(cols)]
        summary = replace(layer, order=[])
        sql = self.render(summary, items, group=len(keys))
        alias = self.alias("s")
        fields = {c.name: Col(c.name, f"{alias}.c{i}", c.type) for i, c in enumerate(cols)}
        # DQL returns groups in a stable order without a sort; hash aggregation does not
        order = [(f"{alias}.c{i}", False) for i in range(len(keys))]
        return Layer(f"({sql}) as {alias}", fields, [], layer.timeframe, order=order)

    def dedup(self, layer: Layer, command: ast.Dedup) -> Layer:
        if layer.reshaped:
            layer = self.wrap(layer)
        exprs = self.exprs(layer)
        keys = [exprs.compile(k).sql for k in command.keys]
        # which record of each group survives: the sort: given, else the current order,
        # else record order (the first event)
        then = [(exprs.compile(k.expr).sql, k.descending) for k in command.sort]
        if not then:
            then = list(layer.order) or list(layer.record_order())
        layer.distinct_on = keys
        layer.order = [(k, False) for k in keys] + then
        return self.wrap(layer)

    def lookup(self, layer: Layer, command: ast.Lookup) -> Layer:
        """Left join on the first matching record of the subquery, its fields under prefix."""
        if layer.reshaped:
            layer = self.wrap(layer)
        sub = self.query(command.query)
        target = self.exprs(sub).resolve(command.lookup_field.name, command.lookup_field.pos)
        source = self.exprs(layer).resolve(command.source_field.name, command.source_field.pos)
        target_sql, source_sql = _join_keys(target, source, command)
        # distinct on (k) sorts by k and the subquery's order: it need not sort before
        sub = self.wrap(sub, extra=[(target_sql, "k")], ordered=False)
        inner = sub.from_sql.rsplit(" as ", 1)[1]
        order = ", ".join(
            f"{sql} {'desc' if desc else 'asc'} nulls last" for sql, desc in sub.order
        )
        alias = self.alias("l")
        joined = (
            f"(select distinct on ({inner}.k) * from {sub.from_sql} "  # noqa: S608
            f"order by {inner}.k{', ' + order if order else ''}) as {alias}"
        )
        layer.from_sql = f"{layer.from_sql} left join {joined} on {alias}.k = {source_sql}"
        for col in sub.fields.values():
            name = command.prefix + col.name
            layer.fields.pop(name, None)
            layer.fields[name] = Col(name, f"{alias}.{col.sql.split('.', 1)[1]}", col.type)
        for base in sub.bases:
            cols = {k: f"{alias}.{v.split('.', 1)[1]}" for k, v in base.cols.items()}
            hidden = {command.prefix + h for h in base.hidden}
            layer.bases.append(Base(base.source, command.prefix + base.prefix, cols, hidden))
        return layer

    def finish(self, layer: Layer, row_cap: int) -> CompiledQuery:
        items: list[tuple[str, str]] = []
        columns: list[OutputColumn] = []
        for base in sorted(layer.bases, key=lambda b: len(b.prefix)):
            for column in base.source.columns:
                name = base.prefix + column.name
                if not column.shown or name in base.hidden or name in layer.fields:
                    continue
                items.append((base.cols[column.name], f"c{len(items)}"))
                columns.append(OutputColumn(name, column.type))
            if base.source.attributes is not None:
                items.append((base.cols[base.source.attributes], f"c{len(items)}"))
                skip = frozenset(base.hidden) | frozenset(layer.fields)
                columns.append(OutputColumn("", T.JSON, True, base.prefix, skip))
        for col in layer.fields.values():
            items.append((col.sql, f"c{len(items)}"))
            columns.append(OutputColumn(col.name, col.type))
        cap = row_cap + 1  # one more than shown: tells whether the result was cut
        if layer.limit_param is not None and layer.limit_value is not None:
            name = layer.limit_param.split(")")[0][2:]
            self.params.values[name] = min(layer.limit_value, cap)
        else:
            layer.limit_param = self.params.bind(cap, "bigint")
        sql = self.render(layer, items)
        return CompiledQuery(
            sql,
            self.params.values,
            columns,
            layer.timeframe,
            self.interval_ns,
            self.series_timeframe,
        )


def _join_keys(target: Typed, source: Typed, command: ast.Lookup) -> tuple[str, str]:
    if target.type is source.type:
        return target.sql, source.sql
    as_text = []
    for typed, fld in ((target, command.lookup_field), (source, command.source_field)):
        if typed.type is T.JSON:
            as_text.append(json_text(typed.sql))
        elif typed.type in SQL_TYPE:
            as_text.append(f"({typed.sql})::text")
        else:
            raise QueryError.at(fld.pos, f"lookup: '{fld.name}' cannot be matched")
    return as_text[0], as_text[1]


def compile_query(
    query: ast.Query,
    timeframe: Timeframe,
    now: datetime,
    row_cap: int,
    engine: Engine = Engine.postgres,
) -> CompiledQuery:
    compiler = Compiler(timeframe, now, engine)
    return compiler.finish(compiler.query(query), row_cap)
