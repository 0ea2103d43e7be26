"""FQL's text and time-text functions, with the named parameters DQL gives them."""

from __future__ import annotations

import re

from flowscope.query import ast
from flowscope.query.calls import CallContext, Impl
from flowscope.query.errors import QueryError
from flowscope.query.values import T, Typed


def _literal_flag(c: CallContext, i: int, name: str) -> bool:
    arg = c.call.args[i]
    if not (isinstance(arg, ast.Literal) and isinstance(arg.value, bool)):
        raise QueryError.at(arg.pos, f"{c.name}(): '{name}:' must be true or false")
    return arg.value


def text_test(template: str) -> Impl:
    def impl(c: CallContext, a: list[Typed]) -> Typed:
        text, part = c.arg(a, 0, T.STRING), c.arg(a, 1, T.STRING)
        if len(a) == 3 and not _literal_flag(c, 2, "caseSensitive"):  # caseSensitive: false
            text, part = f"lower({text})", f"lower({part})"
        return Typed(template.format(text=text, part=part), T.BOOLEAN)

    return impl


def substring(c: CallContext, a: list[Typed]) -> Typed:
    """DQL counts from 0; `to:` is exclusive."""
    text, start = c.arg(a, 0, T.STRING), f"greatest(({c.arg(a, 1, T.NUMBER)})::int, 0)"
    if len(a) == 2:
        return Typed(f"substr({text}, {start} + 1)", T.STRING)
    length = f"greatest(({c.arg(a, 2, T.NUMBER)})::int - {start}, 0)"
    return Typed(f"substr({text}, {start} + 1, {length})", T.STRING)


_UNITS_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "min": 60 * 10**9}
_UNITS_NS.update({"h": 3600 * 10**9, "d": 86400 * 10**9})


def duration(c: CallContext, a: list[Typed]) -> Typed:
    unit = c.call.args[1]
    if not (isinstance(unit, ast.Literal) and unit.value in _UNITS_NS):
        units = ", ".join(f'"{u}"' for u in _UNITS_NS)
        raise QueryError.at(unit.pos, f"duration(): 'unit:' must be one of {units}")
    factor = c.params.bind(_UNITS_NS[str(unit.value)], "double precision")
    return Typed(f"(round(({c.arg(a, 0, T.NUMBER)}) * {factor}))::bigint", T.DURATION)


def text_map(sql_function: str) -> Impl:
    def impl(c: CallContext, a: list[Typed]) -> Typed:
        return Typed(f"{sql_function}({c.arg(a, 0, T.STRING)})", T.STRING)

    return impl


# Java DateTimeFormatter pattern letters (what DQL's formatTimestamp takes) → to_char fields
_JAVA_FIELDS = {"yyyy": "YYYY", "yy": "YY", "MMMM": "FMMonth", "MMM": "Mon", "MM": "MM"}
_JAVA_FIELDS |= {"M": "FMMM", "dd": "DD", "d": "FMDD", "HH": "HH24", "H": "FMHH24", "hh": "HH12"}
_JAVA_FIELDS |= {"h": "FMHH12", "mm": "MI", "ss": "SS", "SSS": "MS", "a": "AM", "EEEE": "FMDay"}
_JAVA_FIELDS |= {"EEE": "Dy", "E": "Dy", "DDD": "DDD", "D": "FMDDD", "SSSSSS": "US", "u": "ID"}
_JAVA_PIECE = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^A-Za-z']+|'")


def java_to_char(pattern: str, pos: ast.Pos) -> str:
    """A to_char() format for a Java date pattern; literal text is quoted, so to_char never
    reads a letter of it as a field."""
    out = []
    for match in _JAVA_PIECE.finditer(pattern):
        piece = match.group()
        if match.group(1):
            field = _JAVA_FIELDS.get(piece)
            if field is None:
                known = " ".join(sorted(_JAVA_FIELDS))
                raise QueryError.at(
                    pos, f"formatTimestamp(): '{piece}' is not supported in format: (use {known})"
                )
            out.append(field)
            continue
        if piece.startswith("'"):
            piece = piece[1:-1].replace("''", "'") if len(piece) > 1 else "'"
        if piece:
            out.append('"' + piece.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "".join(out)


def format_timestamp(c: CallContext, a: list[Typed]) -> Typed:
    pattern = c.call.args[1]
    if not (isinstance(pattern, ast.Literal) and pattern.kind == "string"):
        raise QueryError.at(pattern.pos, 'formatTimestamp(): format: must be a "string"')
    fmt = c.params.bind(java_to_char(str(pattern.value), pattern.pos), "text")
    return Typed(f"to_char(({c.arg(a, 0, T.TIMESTAMP)}) at time zone 'UTC', {fmt})", T.STRING)


def _literal_text(c: CallContext, i: int, name: str) -> str:
    arg = c.call.args[i]
    if not (isinstance(arg, ast.Literal) and arg.kind == "string"):
        raise QueryError.at(arg.pos, f'{c.name}(): {name} must be a "string"')
    return str(arg.value)


def _case_sensitive(c: CallContext, a: list[Typed]) -> bool:
    return len(a) == 3 and _literal_flag(c, 2, "caseSensitive")


def matches_phrase(c: CallContext, a: list[Typed]) -> Typed:
    """The phrase between word boundaries, ignoring case; `*` at either end drops that
    boundary (DQL's matchesPhrase)."""
    phrase = _literal_text(c, 1, "the phrase")
    start = "" if phrase.startswith("*") else "(^|[^[:alnum:]_])"
    end = "" if phrase.endswith("*") else "($|[^[:alnum:]_])"
    pattern = c.params.bind(start + re.escape(phrase.strip("*")) + end, "text")
    op = "~" if _case_sensitive(c, a) else "~*"
    return Typed(f"coalesce({c.arg(a, 0, T.STRING)} {op} {pattern}, false)", T.BOOLEAN)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches_value(c: CallContext, a: list[Typed]) -> Typed:
    """The whole value, ignoring case; `*` at either end matches anything (DQL's
    matchesValue has no wildcards in the middle: a `*` there is the character)."""
    value = _literal_text(c, 1, "the value")
    lead, trail = value.startswith("*"), value.endswith("*") and len(value) > 1
    core = value[1 if lead else 0 : -1 if trail else None]
    pattern = ("%" if lead else "") + _like_escape(core) + ("%" if trail else "")
    op = "like" if _case_sensitive(c, a) else "ilike"
    bound = c.params.bind(pattern, "text")
    return Typed(f"coalesce({c.arg(a, 0, T.STRING)} {op} {bound}, false)", T.BOOLEAN)


def like(c: CallContext, a: list[Typed]) -> Typed:
    """SQL's LIKE: `%` any text, `_` one character, `\\` escapes."""
    text, pattern = c.arg(a, 0, T.STRING), c.arg(a, 1, T.STRING)
    return Typed(f"coalesce({text} like {pattern}, false)", T.BOOLEAN)


def index_of(c: CallContext, a: list[Typed]) -> Typed:
    """0-based, -1 when absent; `from:` starts the search at that index."""
    text, part = c.arg(a, 0, T.STRING), c.arg(a, 1, T.STRING)
    if len(a) == 2:
        return Typed(f"(strpos({text}, {part}) - 1)", T.NUMBER)
    start = f"greatest(({c.arg(a, 2, T.NUMBER)})::int, 0)"
    found = f"strpos(substr({text}, {start} + 1), {part})"
    return Typed(f"(case when {found} = 0 then -1 else {found} + {start} - 1 end)", T.NUMBER)


def string_length(c: CallContext, a: list[Typed]) -> Typed:
    return Typed(f"char_length({c.arg(a, 0, T.STRING)})", T.NUMBER)
