"""The lark parse tree of an FQL expression → its typed AST (`ast.Expr`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lark import Token, Tree

from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.literals import MAX_BIGINT, duration_ns, string_value

Node = Tree[Any] | Token

# `x in [subquery]` holds a whole query, which `flowscope.query.ast_builder` builds; that module
# imports this one, so it registers its builder here at import rather than being imported back.
_subquery_builder: list[Callable[[Node], ast.Query]] = []


def register_subquery_builder(build: Callable[[Node], ast.Query]) -> None:
    _subquery_builder[:] = [build]


ALIGN = "@"  # the call name of `value@unit`: no function can be named so


def node_pos(node: Node) -> ast.Pos:
    """Where a node starts: its first token (the parser does not track rule positions, which
    makes parsing about 40% faster)."""
    while isinstance(node, Tree):
        children = [c for c in node.children if c is not None]
        if not children:
            return ast.Pos(1, 1)
        node = children[0]
    return ast.Pos(node.line or 1, node.column or 1)


# --- expressions ---------------------------------------------------------------------------


def build_expr(node: Node) -> ast.Expr:
    if isinstance(node, Token):  # only reached for malformed trees
        raise QueryError.at(node_pos(node), f"unexpected {node.value!r}")
    kind = node.data
    if kind == "field_name":
        return ast.Field(field_name(node), node_pos(node))
    if kind == "string":
        return ast.Literal(string_value(str(node.children[0])), "string", node_pos(node))
    if kind == "number":
        text = str(node.children[0])
        number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(number, int) and number > MAX_BIGINT:
            number = float(number)  # beyond 64-bit integers: a double, as in JSON
        return ast.Literal(number, "number", node_pos(node))
    if kind == "duration":
        ns = duration_ns(str(node.children[0]))
        if ns > MAX_BIGINT:
            raise QueryError.at(
                node_pos(node), "this duration is too long (at most about 292 years)"
            )
        return ast.Literal(ns, "duration", node_pos(node))
    if kind in ("true", "false"):
        return ast.Literal(kind == "true", "boolean", node_pos(node))
    if kind == "null":
        return ast.Literal(None, "null", node_pos(node))
    if kind == "binop":
        left, op, right = node.children
        return ast.Binary(str(op).lower(), build_expr(left), build_expr(right), node_pos(op))
    if kind == "align":
        aligned, unit = node.children
        unit_text = ast.Literal(str(unit)[1:], "string", node_pos(unit))
        return ast.Call(ALIGN, (build_expr(aligned), unit_text), node_pos(unit))
    if kind == "unop":
        op, operand = node.children
        return ast.Unary(str(op).lower(), build_expr(operand), node_pos(node))
    if kind == "call":
        name, *args = node.children
        positional: list[ast.Expr] = []
        named: list[ast.NamedArg] = []
        for arg in (a for a in args if a is not None):
            if isinstance(arg, Tree) and arg.data == "record_field" and str(name) != "record":
                raise QueryError.at(node_pos(arg), "name = value is only allowed in record()")
            if isinstance(arg, Tree) and arg.data in ("named_arg", "record_field"):
                key, value = arg.children
                named.append(ast.NamedArg(str(key), build_expr(value), node_pos(key)))
            elif named:
                raise QueryError.at(node_pos(arg), "positional arguments come before named ones")
            elif isinstance(arg, Tree) and arg.data == "expr_list":
                # DQL's in(x, {"a", "b"}) and percentiles(x, {50, 90}): the list is the rest
                if str(name) not in ("in", "percentiles"):
                    raise QueryError.at(
                        node_pos(arg), "a {…} list is only allowed in in() and percentiles()"
                    )
                positional.extend(build_expr(item) for item in arg.children)
            else:
                positional.append(build_expr(arg))
        return ast.Call(str(name), tuple(positional), node_pos(node), tuple(named))
    if kind == "index":
        base, key = node.children
        key_expr = build_expr(key)
        if isinstance(key_expr, ast.Field):  # record[name]: the name is the key, not a field
            key_expr = ast.Literal(key_expr.name, "string", key_expr.pos)
        return ast.Index(build_expr(base), key_expr, node_pos(key))
    if kind == "iterate":  # `a[] / b[]`: arithmetic on arrays is element-wise anyway
        return build_expr(node.children[0])
    if kind == "in_query":
        value, word, subquery = node.children
        (build_query,) = _subquery_builder  # registered by ast_builder, which imports this
        return ast.InQuery(build_expr(value), build_query(subquery.children[0]), node_pos(word))
    if kind in ("sort_asc", "sort_desc"):
        raise QueryError.at(node_pos(node.children[1]), "asc and desc are only allowed in sort")
    if kind in ("braces", "subquery"):
        what = "a {…} list" if kind == "braces" else "a [subquery]"
        raise QueryError.at(node_pos(node), f"{what} is not allowed here")
    raise QueryError.at(node_pos(node), f"unexpected {kind}")


def field_name(node: Tree[Any]) -> str:
    token = node.children[0]
    text = str(token)
    return text[1:-1] if isinstance(token, Token) and token.type == "BQNAME" else text
