"""`parse field, "PATTERN"`: Dynatrace Pattern Language (DPL) → one PostgreSQL regex.

The common DPL matchers are supported: `LD` (any text on the line), `DATA` (any text),
`INT`/`LONG`, `DOUBLE`, `WORD`, `ALNUM`, `SPACE`, `NSPACE`, `IPADDR`, `TIMESTAMP` (ISO 8601),
`JSON` (an object), `'literals'`, an optional `?` after a matcher, and `:name` to keep what a
matcher matched as the field `name`. Whitespace between matchers means nothing, as in DPL.
The pattern is matched from the start of the text; a record it does not match gets null
fields. The regex is a bound parameter, built only from constants and escaped literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.expressions import Col, ExprCompiler
from flowscope.query.layers import Layer
from flowscope.query.values import Params, T, coerce

_DIGITS = r"\d+"  # (a bounded {1,n} would make PostgreSQL's regex automaton n times larger)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
_HOUR, _MINUTE = r"(?:[01]\d|2[0-3])", r"[0-5]\d"
_ISO = (
    r"[1-9]\d{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[T ]"
    rf"{_HOUR}:{_MINUTE}:{_MINUTE}(?:\.\d{{1,6}})?(?:Z|[+-](?:0\d|1[0-4]):?{_MINUTE})?"
)
# matcher → (regex, type of the field it captures)
MATCHERS: dict[str, tuple[str, T]] = {
    "LD": (r"[^\n]*?", T.STRING),
    "DATA": (r"[\s\S]*?", T.STRING),
    "INT": (rf"[-+]?{_DIGITS}", T.NUMBER),
    "INTEGER": (rf"[-+]?{_DIGITS}", T.NUMBER),
    "LONG": (rf"[-+]?{_DIGITS}", T.NUMBER),
    "DOUBLE": (rf"[-+]?(?:{_DIGITS}(?:\.\d*)?|\.\d+)", T.NUMBER),
    "WORD": (r"\w+", T.STRING),
    "ALNUM": (r"[A-Za-z0-9]+", T.STRING),
    "SPACE": (r"\s+", T.STRING),
    "NSPACE": (r"\S+", T.STRING),
    "IPADDR": (
        rf"(?:{_OCTET}(?:\.{_OCTET}){{3}}|[0-9A-Fa-f]{{0,4}}(?::[0-9A-Fa-f]{{0,4}}){{2,7}})",
        T.STRING,
    ),
    "TIMESTAMP": (_ISO, T.TIMESTAMP),
    "JSON": (r"\{[\s\S]*\}", T.JSON),
}
_LAZY = frozenset({r"[^\n]*?", r"[\s\S]*?"})
# A matcher at the end of the pattern that would otherwise match nothing takes the rest
_GREEDY_AT_END = {"LD": r"[^\n]*", "DATA": r"[\s\S]*"}
_TOKEN = re.compile(
    r"\s+|'(?P<lit>(?:[^'\\]|\\.)*)'|(?P<m>[A-Z]+)(?P<opt>\?)?(?::(?P<name>[A-Za-z_][\w.]*))?"
)


@dataclass(frozen=True)
class Pattern:
    regex: str
    captures: tuple[tuple[str, T], ...]  # field name and type, in group order


def compile_pattern(text: str, pos: ast.Pos) -> Pattern:
    parts: list[tuple[str, str | None, T]] = []  # (regex or matcher, capture name, type)
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise QueryError.at(pos, f"parse: cannot read the pattern at {text[at : at + 12]!r}")
        at = match.end()
        if match.group("lit") is not None:
            literal = re.sub(r"\\(.)", r"\1", match.group("lit"))
            parts.append((re.sub(r"([^\w\s])", r"\\\1", literal), None, T.STRING))
        elif match.group("m") is not None:
            matcher = match.group("m")
            if matcher not in MATCHERS:
                known = ", ".join(MATCHERS)
                raise QueryError.at(
                    pos, f"parse: DPL matcher '{matcher}' is not supported ({known})"
                )
            regex, kind = MATCHERS[matcher]
            if at == len(text) and matcher in _GREEDY_AT_END:
                regex = _GREEDY_AT_END[matcher]
            regex = f"(?:{regex})?" if match.group("opt") else regex
            parts.append((regex, match.group("name"), kind))
    captures = tuple((name, kind) for _, name, kind in parts if name is not None)
    if not captures:
        raise QueryError.at(pos, "parse: the pattern names no field, e.g. INT:count")
    names = [name for name, _ in captures]
    if len(set(names)) != len(names):
        raise QueryError.at(pos, "parse: a field is named twice in the pattern")
    body = "".join(f"({regex})" if name else regex for regex, name, _ in parts)
    # PostgreSQL makes the whole match as greedy as its first quantified part: after a lazy
    # LD/DATA, {1,1} makes it greedy again (only then: the wrapper costs the engine time)
    quantified = [regex for regex, _, _ in parts if regex in _LAZY or regex[-1] in "+*?}"]
    if quantified and quantified[0] in _LAZY:
        return Pattern(f"^(?:{body}){{1,1}}", captures)
    return Pattern(f"^{body}", captures)


class Parser(Protocol):  # the compiler, seen from here (no import cycle)
    params: Params

    def alias(self, kind: str) -> str: ...

    def wrap(self, layer: Layer, extra: list[tuple[str, str]] | None = None) -> Layer: ...

    def exprs(self, layer: Layer) -> ExprCompiler: ...


def parse_fields(compiler: Parser, layer: Layer, command: ast.Parse) -> Layer:
    pattern = compile_pattern(str(command.pattern.value), command.pattern.pos)
    if layer.reshaped:
        layer = compiler.wrap(layer)
    text = coerce(
        compiler.exprs(layer).compile(command.field), T.STRING, command.field.pos, "parse"
    )
    alias = compiler.alias("p")
    regex = compiler.params.bind(pattern.regex, "text")
    # A function in FROM runs once per record; `lateral (select regexp_match(…) as m)` was
    # pulled up by the planner and ran the regex again for every captured field.
    layer.from_sql += f" cross join lateral regexp_match({text}, {regex}) as {alias}(m)"
    for i, (name, kind) in enumerate(pattern.captures, start=1):
        value = f"{alias}.m[{i}]"
        if kind is T.NUMBER:
            sql = f"(nullif({value}, ''))::double precision"
        elif kind is T.TIMESTAMP:
            sql = f"(nullif({value}, ''))::timestamptz"
        elif kind is T.JSON:
            sql = f"(nullif({value}, ''))::jsonb"
        else:
            sql = value
        layer.fields.pop(name, None)
        layer.fields[name] = Col(name, sql, kind)
    return layer
