"""The canonical text of an FQL expression: how DQL names an unnamed `summarize count()`."""

from __future__ import annotations

import re

from flowscope.query import ast

UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
    # DQL's month and year durations, as fixed lengths (from: -1M is 30 days back)
    "M": 30 * 86_400_000_000_000,
    "y": 365 * 86_400_000_000_000,
}
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "not": 3,
    "~": 4,
    "==": 4,
    "!=": 4,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
}
_PRECEDENCE.update({"+": 5, "-": 5, "*": 6, "/": 6, "%": 6})
_SIMPLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def expr_text(expr: ast.Expr, parent: int = 0) -> str:
    """The canonical text of an expression: the name of an unnamed `summarize count()`."""
    if isinstance(expr, ast.Field):
        return expr.name if _SIMPLE_NAME.fullmatch(expr.name) else f"`{expr.name}`"
    if isinstance(expr, ast.Literal):
        return _literal_text(expr)
    if isinstance(expr, ast.Call) and expr.name == "@":  # time alignment: now()@d
        return f"{expr_text(expr.args[0], 5)}@{expr.args[1].value}"  # type: ignore[union-attr]
    if isinstance(expr, ast.Call):
        args = [expr_text(a) for a in expr.args] + [
            f"{n.name}: {expr_text(n.expr)}" for n in expr.named
        ]
        return f"{expr.name}({', '.join(args)})"
    if isinstance(expr, ast.Index):
        return f"{expr_text(expr.base, 8)}[{expr_text(expr.key)}]"
    if isinstance(expr, ast.InQuery):
        text = f"{expr_text(expr.value, 5)} in [subquery]"
        return f"({text})" if parent > 4 else text
    if isinstance(expr, ast.Unary):
        inner = expr_text(expr.operand, 7)
        return f"not {inner}" if expr.op == "not" else f"-{inner}"
    level = _PRECEDENCE[expr.op]
    text = f"{expr_text(expr.left, level)} {expr.op} {expr_text(expr.right, level + 1)}"
    return f"({text})" if level < parent else text


def _literal_text(literal: ast.Literal) -> str:
    value = literal.value
    if literal.kind == "string":
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if literal.kind == "duration":
        assert isinstance(value, int)  # noqa: S101 - durations are int nanoseconds
        for unit, size in sorted(UNIT_NS.items(), key=lambda item: -item[1]):
            if value % size == 0:
                return f"{value // size}{unit}"
    if literal.kind == "null":
        return "null"
    if literal.kind == "boolean":
        return "true" if value else "false"
    return str(value)
