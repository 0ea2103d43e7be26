"""The lark parse tree → typed AST. Checks each command's shape: its arguments and parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lark import Tree

from flowscope.query import ast, dql
from flowscope.query.errors import InternalQueryError, QueryError, did_you_mean
from flowscope.query.expr_builder import Node, build_expr, field_name, register_subquery_builder
from flowscope.query.expr_builder import node_pos as _pos
from flowscope.query.expr_text import expr_text

# --- command arguments ---------------------------------------------------------------------


@dataclass
class Args:
    """A command's arguments, split into positional ones and `name: value` parameters."""

    command: str
    pos: ast.Pos
    positional: list[Node] = field(default_factory=list)
    named: dict[str, tuple[Node, ast.Pos]] = field(default_factory=dict)


def _split_args(command: str, pos: ast.Pos, args: Node | None, allowed: frozenset[str]) -> Args:
    out = Args(command, pos)
    if args is None:
        return out
    assert isinstance(args, Tree)  # noqa: S101 - grammar: args is a tree
    for arg in args.children:
        if isinstance(arg, Tree) and arg.data == "named":
            name_token, value = arg.children
            name = str(name_token)
            where = _pos(name_token)
            if name not in allowed:
                accepted = ", ".join(f"{n}:" for n in sorted(allowed)) or "none"
                raise QueryError.at(
                    where,
                    f"{command} has no parameter '{name}:'{did_you_mean(name, allowed)} "
                    f"(it accepts {accepted})",
                )
            if name in out.named:
                raise QueryError.at(where, f"{command}: parameter '{name}:' is given twice")
            out.named[name] = (value, where)
        else:
            out.positional.append(arg)
    return out


def _assignments(nodes: list[Node]) -> tuple[ast.Assign, ...]:
    """`a = expr` or a bare `expr` (then named by its own text, e.g. `count()`)."""
    items: list[ast.Assign] = []
    for node in nodes:
        if isinstance(node, Tree) and node.data == "assign":
            target, expr = node.children
            items.append(ast.Assign(field_name(target), build_expr(expr), _pos(node)))
        elif isinstance(node, Tree) and node.data == "braces":
            inner = node.children[0]
            items.extend(_assignments(list(inner.children) if inner else []))
        else:
            expr = build_expr(node)
            name = expr.name if isinstance(expr, ast.Field) else expr_text(expr)
            items.append(ast.Assign(name, expr, _pos(node)))
    return tuple(items)


def _sort_keys(nodes: list[Node]) -> tuple[ast.SortKey, ...]:
    keys: list[ast.SortKey] = []
    for node in nodes:
        if isinstance(node, Tree) and node.data == "braces":
            inner = node.children[0]
            keys.extend(_sort_keys(list(inner.children) if inner else []))
        elif isinstance(node, Tree) and node.data in ("sort_asc", "sort_desc"):
            keys.append(ast.SortKey(build_expr(node.children[0]), node.data == "sort_desc"))
        else:
            keys.append(ast.SortKey(build_expr(node), False))
    return tuple(keys)


def _one(args: Args, what: str) -> Node:
    if len(args.positional) != 1:
        raise QueryError.at(args.pos, f"{args.command} takes exactly one {what}")
    return args.positional[0]


def _named_field(args: Args, name: str, *, required: bool) -> ast.Field | None:
    if name not in args.named:
        if required:
            raise QueryError.at(args.pos, f"{args.command} needs the parameter '{name}:'")
        return None
    value, where = args.named[name]
    expr = build_expr(value)
    if not isinstance(expr, ast.Field):
        raise QueryError.at(where, f"{args.command}: '{name}:' must be a field name")
    return expr


def _named_literal(args: Args, name: str, kinds: tuple[str, ...]) -> ast.Literal | None:
    if name not in args.named:
        return None
    value, where = args.named[name]
    expr = build_expr(value)
    if not isinstance(expr, ast.Literal) or expr.kind not in kinds:
        raise QueryError.at(where, f"{args.command}: '{name}:' must be a {' or '.join(kinds)}")
    return expr


def _named_expr(args: Args, name: str) -> ast.Expr | None:
    if name not in args.named:
        return None
    return build_expr(args.named[name][0])


def _by(args: Args) -> tuple[ast.Assign, ...]:
    if "by" not in args.named:
        return ()
    return _assignments([args.named["by"][0]])


# --- commands ------------------------------------------------------------------------------

Builder = Callable[[Args], ast.Command]


def _filter(negate: bool) -> Builder:
    def build(args: Args) -> ast.Command:
        return ast.Filter(build_expr(_one(args, "condition")), negate, args.pos)

    return build


def _fields(keep_others: bool) -> Builder:
    def build(args: Args) -> ast.Command:
        items = _assignments(args.positional)
        if not items:
            raise QueryError.at(args.pos, f"{args.command} needs at least one field")
        return ast.Fields(items, keep_others, args.pos)

    return build


def _fields_remove(args: Args) -> ast.Command:
    names = []
    for node in args.positional:
        expr = build_expr(node)
        if not isinstance(expr, ast.Field):
            raise QueryError.at(expr.pos, "fieldsRemove takes field names")
        names.append(expr)
    if not names:
        raise QueryError.at(args.pos, "fieldsRemove needs at least one field")
    return ast.FieldsRemove(tuple(names), args.pos)


def _fields_rename(args: Args) -> ast.Command:
    renames = []
    for item in _assignments(args.positional):
        if not isinstance(item.expr, ast.Field) or item.name == expr_text(item.expr):
            raise QueryError.at(item.pos, "fieldsRename takes newName = oldName")
        renames.append((item.name, item.expr))
    return ast.FieldsRename(tuple(renames), args.pos)


def _expand(args: Args) -> ast.Command:
    target = build_expr(_one(args, "field"))
    if not isinstance(target, ast.Field):
        raise QueryError.at(target.pos, "expand takes the name of an array field")
    return ast.Expand(target, args.pos)


def _summarize(args: Args) -> ast.Command:
    aggregates = _assignments(args.positional)
    if not aggregates:
        raise QueryError.at(args.pos, "summarize needs at least one aggregation, e.g. count()")
    return ast.Summarize(aggregates, _by(args), args.pos)


def _sort(args: Args) -> ast.Command:
    keys = _sort_keys(args.positional)
    if not keys:
        raise QueryError.at(args.pos, "sort needs at least one field")
    if "direction" in args.named:  # DQL's `sort x, direction: "descending"`
        value, where = args.named["direction"]
        direction = build_expr(value)
        if not (isinstance(direction, ast.Literal) and direction.value in _DIRECTIONS):
            raise QueryError.at(where, 'sort: direction: must be "ascending" or "descending"')
        descending = direction.value == "descending"
        keys = tuple(ast.SortKey(k.expr, k.descending or descending) for k in keys)
    return ast.Sort(keys, args.pos)


_DIRECTIONS = ("ascending", "descending")


def _limit(args: Args) -> ast.Command:
    expr = build_expr(_one(args, "number"))
    if not (
        isinstance(expr, ast.Literal) and isinstance(expr.value, int) and expr.kind == "number"
    ):
        raise QueryError.at(args.pos, "limit takes a whole number, e.g. limit 100")
    return ast.Limit(expr, args.pos)


def _dedup(args: Args) -> ast.Command:
    keys: list[ast.Expr] = []
    for node in args.positional:
        if isinstance(node, Tree) and node.data == "braces":
            inner = node.children[0]
            keys.extend(build_expr(n) for n in (inner.children if inner else []))
        else:
            keys.append(build_expr(node))
    if not keys:
        raise QueryError.at(args.pos, "dedup needs at least one field")
    sort = _sort_keys([args.named["sort"][0]]) if "sort" in args.named else ()
    return ast.Dedup(tuple(keys), sort, args.pos)


def _lookup(args: Args) -> ast.Command:
    node = _one(args, "[subquery]")
    if not (isinstance(node, Tree) and node.data == "subquery"):
        raise QueryError.at(args.pos, "lookup takes a [subquery] in square brackets")
    subquery = build_query(node.children[0])
    source = _named_field(args, "sourceField", required=True)
    target = _named_field(args, "lookupField", required=True)
    prefix = _named_literal(args, "prefix", ("string",))
    if source is None or target is None:  # unreachable: required=True raised already
        raise InternalQueryError("lookup without sourceField/lookupField")
    prefix_text = str(prefix.value) if prefix is not None else "lookup."
    return ast.Lookup(subquery, source, target, prefix_text, args.pos)


def _subquery(args: Args) -> ast.Query:
    node = args.positional[0] if args.positional else None
    if len(args.positional) != 1 or not (isinstance(node, Tree) and node.data == "subquery"):
        raise QueryError.at(args.pos, f"{args.command} takes one [subquery] in square brackets")
    return build_query(node.children[0])


def _items(node: Node) -> list[Node]:
    """The nodes of a `{a, b}` list, or the one node given without braces."""
    if isinstance(node, Tree) and node.data == "braces":
        inner = node.children[0]
        return list(inner.children) if inner else []
    return [node]


def _join_key(expr: ast.Expr) -> tuple[ast.Expr, ast.Expr]:
    if isinstance(expr, ast.Field):  # on: {orderId}: the same name on both sides
        return expr, expr
    sides: dict[str, ast.Expr] = {}
    if isinstance(expr, ast.Binary) and expr.op == "==":
        for side in (expr.left, expr.right):
            if (
                isinstance(side, ast.Index)
                and isinstance(side.base, ast.Field)
                and side.base.name in ("left", "right")
                and isinstance(side.key, ast.Literal)
            ):
                sides[side.base.name] = ast.Field(str(side.key.value), side.key.pos)
    if set(sides) != {"left", "right"}:
        raise QueryError.at(
            expr.pos, "join: on: takes field names or left[name] == right[name] conditions"
        )
    return sides["left"], sides["right"]


def _join(args: Args) -> ast.Command:
    query = _subquery(args)
    if "on" not in args.named:
        raise QueryError.at(args.pos, "join needs the parameter 'on:', e.g. on: {orderId}")
    on = tuple(_join_key(build_expr(n)) for n in _items(args.named["on"][0]))
    kind = "inner"
    if "kind" in args.named:
        value, where = args.named["kind"]
        given = build_expr(value)
        text = given.name if isinstance(given, ast.Field) else getattr(given, "value", None)
        if text not in ("inner", "leftOuter"):
            raise QueryError.at(
                where, "join: kind: must be inner or leftOuter (outer is not supported)"
            )
        kind = str(text)
    fields = None
    if "fields" in args.named:
        fields = tuple(_field_list(args, args.named["fields"][0]))
    prefix = _named_literal(args, "prefix", ("string",))
    prefix_text = str(prefix.value) if prefix is not None else "right."
    return ast.Join(
        query, on, "inner" if kind == "inner" else "leftOuter", fields, prefix_text, args.pos
    )


def _field_list(args: Args, node: Node) -> list[ast.Field]:
    names = []
    for item in _items(node):
        expr = build_expr(item)
        if not isinstance(expr, ast.Field):
            raise QueryError.at(expr.pos, f"{args.command} takes field names here")
        names.append(expr)
    return names


def _append(args: Args) -> ast.Command:
    return ast.Append(_subquery(args), args.pos)


def _fields_summary(args: Args) -> ast.Command:
    names = [f for node in args.positional for f in _field_list(args, node)]
    if not names:
        raise QueryError.at(args.pos, "fieldsSummary needs at least one field")
    top = _named_literal(args, "topValues", ("number",))
    count = top.value if top is not None else 20
    if not isinstance(count, int) or not 1 <= count <= 1000:
        where = top.pos if top is not None else args.pos
        raise QueryError.at(
            where, "fieldsSummary: topValues: must be a whole number from 1 to 1000"
        )
    return ast.FieldsSummary(tuple(names), count, args.pos)


def _parse(args: Args) -> ast.Command:
    if len(args.positional) != 2:
        raise QueryError.at(args.pos, 'parse takes a field and a pattern: parse text, "INT:n"')
    target = build_expr(args.positional[0])
    pattern = build_expr(args.positional[1])
    if not (isinstance(pattern, ast.Literal) and pattern.kind == "string"):
        raise QueryError.at(pattern.pos, 'parse: the pattern must be a "string"')
    return ast.Parse(target, pattern, args.pos)


def _make_timeseries(args: Args) -> ast.Command:
    aggregates = _assignments(args.positional)
    if not aggregates:
        raise QueryError.at(args.pos, "makeTimeseries needs at least one aggregation")
    interval = _named_literal(args, "interval", ("duration",))
    bins = _named_literal(args, "bins", ("number",))
    if interval is not None and bins is not None:
        raise QueryError.at(bins.pos, "makeTimeseries takes either interval: or bins:, not both")
    time = _named_field(args, "time", required=False)
    return ast.MakeTimeseries(aggregates, _by(args), time, interval, bins, args.pos)


_COMMANDS: dict[str, tuple[Builder, frozenset[str]]] = {
    "filter": (_filter(False), frozenset()),
    "filterOut": (_filter(True), frozenset()),
    "fields": (_fields(False), frozenset()),
    "fieldsKeep": (_fields(False), frozenset()),
    "fieldsAdd": (_fields(True), frozenset()),
    "fieldsRemove": (_fields_remove, frozenset()),
    "fieldsRename": (_fields_rename, frozenset()),
    "expand": (_expand, frozenset()),
    "summarize": (_summarize, frozenset({"by"})),
    "sort": (_sort, frozenset({"direction"})),
    "limit": (_limit, frozenset()),
    "dedup": (_dedup, frozenset({"sort"})),
    "lookup": (_lookup, frozenset({"sourceField", "lookupField", "prefix"})),
    "makeTimeseries": (_make_timeseries, frozenset({"by", "time", "interval", "bins"})),
    # executionOrder: only tells Grail which side to read first; the result is the same
    "join": (_join, frozenset({"on", "kind", "fields", "prefix", "executionOrder"})),
    "append": (_append, frozenset()),
    # extrapolateSamples: FQL never samples, so there is nothing to extrapolate
    "fieldsSummary": (_fields_summary, frozenset({"topValues", "extrapolateSamples"})),
    "parse": (_parse, frozenset()),
}
COMMAND_NAMES = ("fetch", "data", *_COMMANDS)


# Grail's storage options: accepted so pasted queries run, and ignored (README): FQL always
# reads every stored event (as samplingRatio: 1), without a scan limit, from its one store
IGNORED_FETCH_PARAMETERS = frozenset({"scanLimitGBytes", "samplingRatio", "bucket"})
FETCH_PARAMETERS = frozenset({"from", "to"}) | IGNORED_FETCH_PARAMETERS


def _fetch(args: Args) -> ast.Fetch:
    if len(args.positional) != 1:
        raise QueryError.at(args.pos, "fetch takes one data source, e.g. fetch bizevents")
    source = build_expr(args.positional[0])
    if not isinstance(source, ast.Field):
        raise QueryError.at(source.pos, "fetch takes a data source name, e.g. fetch bizevents")
    return ast.Fetch(source.name, _named_expr(args, "from"), _named_expr(args, "to"), source.pos)


def _data(args: Args) -> ast.Data:
    records = []
    for node in args.positional:
        item = build_expr(node)
        if not (isinstance(item, ast.Call) and item.name == "record" and not item.args):
            raise QueryError.at(_pos(node), "data takes records: data record(a = 1), record(a = 2)")
        records.append(item.named)
    if not records:
        raise QueryError.at(args.pos, "data needs at least one record(name = value, …)")
    return ast.Data(tuple(records), args.pos)


def build_query(node: Node) -> ast.Query:
    if not isinstance(node, Tree) or node.data != "query":
        raise InternalQueryError(f"expected a query node, got {node!r}")
    commands: list[ast.Command] = []
    fetch: ast.Fetch | ast.Data | None = None
    for i, command in enumerate(node.children):
        name_token, args_node = command.children
        name = str(name_token)
        pos = _pos(name_token)
        if i == 0:
            if name not in ("fetch", "data"):
                raise QueryError.at(pos, f"a query starts with fetch or data, not '{name}'")
            parameters = FETCH_PARAMETERS if name == "fetch" else frozenset()
            args = _split_args(name, pos, args_node, parameters)
            fetch = _fetch(args) if name == "fetch" else _data(args)
            continue
        if name in ("fetch", "data"):
            raise QueryError.at(pos, f"{name} can only start a query (or a [subquery])")
        if name not in _COMMANDS:
            raise dql.unsupported_command(name, pos) or QueryError.at(
                pos,
                f"unknown command '{name}'{did_you_mean(name, COMMAND_NAMES)} "
                f"(commands: {', '.join(COMMAND_NAMES)})",
            )
        builder, allowed = _COMMANDS[name]
        commands.append(builder(_split_args(name, pos, args_node, allowed)))
    assert fetch is not None  # noqa: S101 - a query has at least one command
    return ast.Query(fetch, tuple(commands))


register_subquery_builder(build_query)
