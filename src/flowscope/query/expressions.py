"""FQL expressions → typed SQL, resolving field names against what the pipeline holds so far."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from flowscope import attributes
from flowscope.query import ast
from flowscope.query.calls import CallContext, Function
from flowscope.query.dql import unsupported_function
from flowscope.query.errors import QueryError, did_you_mean
from flowscope.query.functions import AGGREGATES, ALL_FUNCTIONS, SCALARS
from flowscope.query.sources import Source
from flowscope.query.time_functions import align_sql
from flowscope.query.values import NUMERIC, SQL_TYPE, Params, T, Typed, coerce, type_name, unify


@dataclass
class Col:
    """A field the next command can use: its FQL name, SQL (in the current FROM) and type."""

    name: str
    sql: str
    type: T


@dataclass
class Base:
    """An open record source (events): names not in `fields` resolve through it.

    `cols` maps the source's column names to SQL in the current FROM; a name under `prefix`
    that is not a column is an attribute path into the JSONB column.
    """

    source: Source
    prefix: str
    cols: dict[str, str]
    hidden: set[str] = field(default_factory=set)


class Mode(enum.Enum):
    ROW = "row"  # per record: no aggregations
    AGG = "agg"  # summarize/makeTimeseries: aggregations, and no bare fields outside them
    INNER = "inner"  # the arguments of an aggregation: per record again


_COMPARE = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_NS_PER_S = "1000000000"


class ExprCompiler:
    def __init__(
        self,
        params: Params,
        fields: dict[str, Col],
        bases: list[Base],
        now_sql: Callable[[], str],
        record_order: tuple[tuple[str, bool], ...] = (),
        subquery: Callable[[ast.Query, ast.Pos], Typed] | None = None,
    ) -> None:
        self.params = params
        self.fields = fields
        self.bases = sorted(bases, key=lambda b: -len(b.prefix))
        self.now_sql = now_sql
        self.record_order = record_order
        # `x in [subquery]`: the compiler turns the subquery into a one-column SELECT
        self.subquery = subquery

    # --- names --------------------------------------------------------------------------

    def resolve(self, name: str, pos: ast.Pos) -> Typed:
        col = self.fields.get(name)
        if col is not None:
            return Typed(col.sql, col.type)
        for base in self.bases:
            if not name.startswith(base.prefix) or name in base.hidden:
                continue
            rest = name[len(base.prefix) :]
            if not rest or rest.startswith("#"):
                continue
            column = base.source.column(rest)
            if column is not None:
                return Typed(base.cols[rest], column.type)
            if base.source.attributes is not None:
                prefix = base.source.attributes_prefix
                if prefix and rest.startswith(prefix) and len(rest) > len(prefix):
                    rest = rest[len(prefix) :]
                return Typed(self._attribute(base.cols[base.source.attributes], rest), T.JSON)
        known = list(self.fields) + [
            base.prefix + c.name
            for base in self.bases
            for c in base.source.columns
            if not c.name.startswith("#") and base.prefix + c.name not in base.hidden
        ]
        listed = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
        raise QueryError.at(
            pos,
            f"unknown field '{name}'{did_you_mean(name, known)} (fields here: {listed or 'none'})",
        )

    def _attribute(self, column_sql: str, path: str) -> str:
        """The attribute at `path` by the one rule of `flowscope.attributes`: a flat key
        ("order.id": …) or, failing that, the nested objects ({"order": {"id": …}})."""
        key, jsonpath = attributes.sql_parameters(path)
        if "." not in path:  # one part: the flat key and the nested path are the same key
            return f"({column_sql} -> {self.params.bind(key, 'text')})"
        return attributes.value_sql(
            column_sql, self.params.bind(key, "text"), self.params.bind(jsonpath, "jsonpath")
        )

    # --- expressions --------------------------------------------------------------------

    def compile(self, expr: ast.Expr, mode: Mode = Mode.ROW) -> Typed:
        if isinstance(expr, ast.Field):
            if mode is Mode.AGG:
                raise QueryError.at(
                    expr.pos,
                    f"field '{expr.name}' must be inside an aggregation such as takeAny() "
                    "or listed in by:",
                )
            return self.resolve(expr.name, expr.pos)
        if isinstance(expr, ast.Literal):
            return self._literal(expr)
        if isinstance(expr, ast.Call):
            return self._call(expr, mode)
        if isinstance(expr, ast.Unary):
            return self._unary(expr, mode)
        if isinstance(expr, ast.Index):
            return index(self.compile(expr.base, mode), self.compile(expr.key, mode), expr.pos)
        if isinstance(expr, ast.InQuery):
            return self._in_query(expr, mode)
        return self._binary(expr, mode)

    def _in_query(self, expr: ast.InQuery, mode: Mode) -> Typed:
        if self.subquery is None:
            raise QueryError.at(expr.pos, "a [subquery] cannot be used here")
        value = self.compile(expr.value, mode)
        sub = self.subquery(expr.query, expr.pos)
        kind = unify(value, sub)
        if kind is T.JSON:  # attribute against attribute: compare their text
            kind = T.STRING
        if kind is T.ARRAY:
            raise QueryError.at(expr.pos, "in [subquery] cannot compare arrays")
        needle = coerce(value, kind, expr.pos, "the left side of in")
        found = coerce(Typed("q.v", sub.type), kind, expr.pos, "the field of the subquery")
        sql = f"({needle} in (select {found} from ({sub.sql}) as q))"  # noqa: S608
        return Typed(sql, T.BOOLEAN)

    def _literal(self, lit: ast.Literal) -> Typed:
        if lit.kind == "null":
            return Typed("null", T.NULL)
        if lit.kind == "string":
            return Typed(self.params.bind(lit.value, "text"), T.STRING)
        if lit.kind == "boolean":
            return Typed(self.params.bind(lit.value, "boolean"), T.BOOLEAN)
        if lit.kind == "duration":
            return Typed(self.params.bind(lit.value, "bigint"), T.DURATION)
        sql_type = "bigint" if isinstance(lit.value, int) else "double precision"
        return Typed(self.params.bind(lit.value, sql_type), T.NUMBER)

    def _call(self, call: ast.Call, mode: Mode) -> Typed:
        if call.name == "@":  # `value@d`: the grammar's time alignment, not a callable name
            value = coerce(self.compile(call.args[0], mode), T.TIMESTAMP, call.pos, "@")
            unit = call.args[1]
            assert isinstance(unit, ast.Literal)  # noqa: S101 - the builder makes it so
            return Typed(align_sql(value, str(unit.value)), T.TIMESTAMP)
        if call.name == "record":
            return self._record(call, mode)
        function: Function | None = SCALARS.get(call.name)
        aggregate = function is None and call.name in AGGREGATES
        if aggregate:
            function = AGGREGATES[call.name]
            if mode is not Mode.AGG:
                raise QueryError.at(
                    call.pos,
                    f"{call.name}() is an aggregation: use it in summarize or makeTimeseries"
                    + (" (aggregations cannot be nested)" if mode is Mode.INNER else ""),
                )
        if function is None:
            raise unsupported_function(call.name, call.pos) or QueryError.at(
                call.pos,
                f"unknown function '{call.name}'{did_you_mean(call.name, ALL_FUNCTIONS)}",
            )
        if aggregate and any(n.name == "default" for n in call.named):
            return self._with_default(call, mode)
        call = _with_named(call, function)
        count = len(call.args)
        if count < function.min_args or (
            function.max_args is not None and count > function.max_args
        ):
            raise QueryError.at(
                call.pos, f"{call.name}() takes {_arity(function)}: {function.signature}"
            )
        arg_mode = Mode.INNER if aggregate else mode
        args = [self.compile(arg, arg_mode) for arg in call.args]
        context = CallContext(self.params, call, self.now_sql, self.record_order)
        return function.impl(context, args)

    def _with_default(self, call: ast.Call, mode: Mode) -> Typed:
        """DQL's `sum(x, default: 0)`: the value when the aggregation has none (no records,
        or only nulls); in makeTimeseries also the value of an empty bin."""
        default = next(n for n in call.named if n.name == "default")
        rest = tuple(n for n in call.named if n.name != "default")
        value = self._call(ast.Call(call.name, call.args, call.pos, rest), mode)
        fallback = self.compile(default.expr, Mode.INNER)
        kind = unify(value, fallback)
        a = coerce(value, kind, call.pos, f"{call.name}()")
        b = coerce(fallback, kind, default.pos, "default:")
        return Typed(f"coalesce({a}, {b})", kind)

    def _record(self, call: ast.Call, mode: Mode) -> Typed:
        """record(a = 1, b = x) or record(x): a JSON object (a bare field keeps its name)."""
        items: list[tuple[str, ast.Expr]] = [(n.name, n.expr) for n in call.named]
        for arg in call.args:
            if not isinstance(arg, ast.Field):
                raise QueryError.at(arg.pos, "record() takes name = value, or field names")
            items.append((arg.name, arg))
        if not items:
            raise QueryError.at(call.pos, "record() needs at least one name = value")
        pairs = []
        for name, expr in items:
            value = self.compile(expr, mode)
            json = value.sql if value.type is T.JSON else f"to_jsonb({value.sql})"
            if value.type is T.NULL:
                json = "'null'::jsonb"
            pairs.append(f"{self.params.bind(name, 'text')}, {json}")
        return Typed(f"jsonb_build_object({', '.join(pairs)})", T.JSON)

    def _unary(self, expr: ast.Unary, mode: Mode) -> Typed:
        operand = self.compile(expr.operand, mode)
        if expr.op == "not":
            return Typed(f"(not {coerce(operand, T.BOOLEAN, expr.pos, 'not')})", T.BOOLEAN)
        kind = T.DURATION if operand.type is T.DURATION else T.NUMBER
        return Typed(f"(-{coerce(operand, kind, expr.pos, 'minus')})", kind)

    def _binary(self, expr: ast.Binary, mode: Mode) -> Typed:
        left = self.compile(expr.left, mode)
        right = self.compile(expr.right, mode)
        op, pos = expr.op, expr.pos
        if op in ("and", "or"):
            a = coerce(left, T.BOOLEAN, expr.left.pos, f"the left side of {op}")
            b = coerce(right, T.BOOLEAN, expr.right.pos, f"the right side of {op}")
            return Typed(f"({a} {op} {b})", T.BOOLEAN)
        if op in _COMPARE:
            return self._compare(op, left, right, expr)
        if op == "~":  # DQL's search operator: the text holds the phrase, in any case
            a = coerce(left, T.STRING, expr.left.pos, "the left side of ~")
            b = coerce(right, T.STRING, expr.right.pos, "the right side of ~")
            return Typed(f"(strpos(lower({a}), lower({b})) > 0)", T.BOOLEAN)
        if T.ARRAY in (left.type, right.type):
            return element_wise(op, left, right, pos)
        return self._arithmetic(op, left, right, pos)

    def _compare(self, op: str, left: Typed, right: Typed, expr: ast.Binary) -> Typed:
        if op in ("==", "!=") and T.NULL in (left.type, right.type):
            other = right if left.type is T.NULL else left
            test = f"coalesce(jsonb_typeof({other.sql}), 'null') = 'null'"
            if other.type is not T.JSON:
                test = f"{other.sql} is null"
            return Typed(f"({test})" if op == "==" else f"(not ({test}))", T.BOOLEAN)
        kind = unify(left, right)
        if kind is T.ARRAY or (kind is T.BOOLEAN and op not in ("==", "!=")):
            raise QueryError.at(expr.pos, f"{type_name(kind)} values cannot be compared with {op}")
        if kind is T.JSON and left.type is T.JSON and right.type is T.JSON:
            return Typed(f"({left.sql} {_COMPARE[op]} {right.sql})", T.BOOLEAN)
        a = coerce(left, kind, expr.left.pos, f"the left side of {op}")
        b = coerce(right, kind, expr.right.pos, f"the right side of {op}")
        return Typed(f"({a} {_COMPARE[op]} {b})", T.BOOLEAN)

    def _arithmetic(self, op: str, left: Typed, right: Typed, pos: ast.Pos) -> Typed:
        lt, rt = _numeric_side(left, right), _numeric_side(right, left)
        if op == "-" and lt is T.TIMESTAMP and rt is T.TIMESTAMP:
            a, b = coerce(left, lt, pos), coerce(right, rt, pos)
            return Typed(f"(extract(epoch from ({a} - {b})) * {_NS_PER_S})::bigint", T.DURATION)
        if op in ("+", "-") and lt is T.TIMESTAMP and rt in NUMERIC:
            a, b = coerce(left, T.TIMESTAMP, pos), coerce(right, T.DURATION, pos)
            return Typed(f"({a} {op} {_interval(b)})", T.TIMESTAMP)
        if op == "+" and lt in NUMERIC and rt is T.TIMESTAMP:
            a, b = coerce(left, T.DURATION, pos), coerce(right, T.TIMESTAMP, pos)
            return Typed(f"({b} + {_interval(a)})", T.TIMESTAMP)
        if lt not in NUMERIC or rt not in NUMERIC:
            bad = left if lt not in NUMERIC else right
            hint = " (use concat() to join text)" if op == "+" and bad.type is T.STRING else ""
            raise QueryError.at(pos, f"cannot use {op} with a {type_name(bad.type)}{hint}")
        a, b = coerce(left, lt, pos), coerce(right, rt, pos)
        if op in ("+", "-"):
            kind = T.DURATION if T.DURATION in (lt, rt) else T.NUMBER
            return Typed(f"({a} {op} {b})", kind)
        if op == "*":
            kind = T.DURATION if T.DURATION in (lt, rt) and lt is not rt else T.NUMBER
            return Typed(f"({a} * {b})", kind)
        kind = T.DURATION if lt is T.DURATION and rt is T.NUMBER else T.NUMBER
        if op == "%":  # the sign follows the dividend, as in DQL (and Java); x % 0 is null
            kind = lt if lt is rt else T.NUMBER
            rest = f"mod(({a})::numeric, nullif(({b})::numeric, 0))"
            return Typed(f"({rest})::{SQL_TYPE[kind]}", kind)
        return Typed(f"(({a})::double precision / nullif(({b})::double precision, 0))", kind)


def index(base: Typed, key: Typed, pos: ast.Pos) -> Typed:
    """`record[key]` / `array[0]` (0-based, as in DQL); out of range or missing is null."""
    if key.type not in (T.STRING, T.NUMBER):
        raise QueryError.at(pos, f"[…] takes a name or a number, not a {type_name(key.type)}")
    if base.type is T.ARRAY:
        if key.type is not T.NUMBER:
            raise QueryError.at(pos, "an array's element is chosen by a number, e.g. a[0]")
        return Typed(f"({base.sql})[({key.sql})::integer + 1]", T.NUMBER)
    if base.type is not T.JSON:
        raise QueryError.at(pos, f"a {type_name(base.type)} has no elements or fields")
    if key.type is T.NUMBER:
        return Typed(f"({base.sql} -> ({key.sql})::integer)", T.JSON)
    return Typed(f"({base.sql} -> {key.sql})", T.JSON)


def element_wise(op: str, left: Typed, right: Typed, pos: ast.Pos) -> Typed:
    """Arithmetic on makeTimeseries arrays, element by element (`a[] / b[]`); a number applies
    to every element. Arrays of different lengths are padded with nulls, x / 0 is null."""
    sides = []
    for side, name in ((left, "x"), (right, "y")):
        if side.type is T.ARRAY:
            sides.append((f"({side.sql})::double precision[]", f"u.{name}"))
        else:
            number = coerce(side, T.NUMBER, pos, f"the other side of {op}")
            sides.append(("", f"({number})::double precision"))
    (a_array, a), (b_array, b) = sides
    arrays = ", ".join(x for x in (a_array, b_array) if x)
    names = "x, y" if a_array and b_array else ("x" if a_array else "y")
    if op == "/":
        value = f"{a} / nullif({b}, 0)"
    elif op == "%":
        value = f"(mod(({a})::numeric, nullif(({b})::numeric, 0)))::double precision"
    else:
        value = f"{a} {op} {b}"
    sql = (
        f"(select coalesce(array_agg({value} order by u.n), '{{}}') "  # noqa: S608
        f"from unnest({arrays}) with ordinality as u({names}, n))"
    )
    return Typed(sql, T.ARRAY)


def _numeric_side(value: Typed, other: Typed) -> T:
    """How an operand takes part in arithmetic: attribute values follow the other side."""
    if value.type is T.JSON:
        if other.type in (T.TIMESTAMP, T.DURATION):
            return other.type
        return T.NUMBER
    if value.type is T.NULL:
        return T.NUMBER
    return value.type


def _interval(nanoseconds_sql: str) -> str:
    return f"(({nanoseconds_sql})::double precision / 1000 * interval '1 microsecond')"


def _with_named(call: ast.Call, function: Function) -> ast.Call:
    """The call with its `name: value` arguments moved to the positions the table declares."""
    if not call.named:
        return call
    args: list[ast.Expr | None] = list(call.args)
    for named in call.named:
        if named.name not in function.names:
            accepted = ", ".join(f"{n}:" for n in function.names) or "none"
            raise QueryError.at(
                named.pos,
                f"{call.name}() has no parameter '{named.name}:'"
                f"{did_you_mean(named.name, function.names)} (it accepts {accepted})",
            )
        slot = function.names.index(named.name)
        args.extend([None] * (slot + 1 - len(args)))
        if args[slot] is not None:
            raise QueryError.at(named.pos, f"{call.name}(): '{named.name}' is given twice")
        args[slot] = named.expr
    if None in args:
        missing = function.names[args.index(None)]
        raise QueryError.at(call.pos, f"{call.name}() needs '{missing}:' as well")
    return ast.Call(call.name, tuple(a for a in args if a is not None), call.pos)


def _arity(function: Function) -> str:
    if function.max_args is None:
        return f"at least {function.min_args} argument{'s' if function.min_args != 1 else ''}"
    if function.min_args == function.max_args:
        n = function.min_args
        return "no arguments" if n == 0 else f"{n} argument{'s' if n != 1 else ''}"
    return f"{function.min_args} to {function.max_args} arguments"
