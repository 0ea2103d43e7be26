"""Dashboard variables in FQL text, substituted safely.

`$Provider` in a tile query becomes an FQL *string literal* holding the chosen value, quoted
and escaped by FQL's own rules; the parser reads it back as one literal and the compiler binds
it as a parameter. A value can therefore never change the query's structure, and no value
reaches the SQL text. `$` inside strings, backquoted names and comments is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from flowscope.errors import FlowscopeError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def fql_string(value: str) -> str:
    """`value` as an FQL string literal (the inverse of the parser's `unquote`)."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def names_in(text: str) -> list[str]:
    """The `$variables` a query uses, in order of first use."""
    found: list[str] = []

    def note(name: str) -> str:
        found.append(name)
        return ""

    _scan(text, note)
    return list(dict.fromkeys(found))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace every `$name` outside strings/backquotes/comments by its value as a literal."""

    def literal(name: str) -> str:
        if name not in values:
            raise FlowscopeError(f"query: unknown variable ${name} (define it on the dashboard)")
        return fql_string(values[name])

    return _scan(text, literal)


def _scan(text: str, replace: Callable[[str], str]) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif ch == "`":
            j = text.find("`", i + 1)
            j = n - 1 if j < 0 else j
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
        elif ch == "$" and (match := _NAME.match(text, i + 1)):
            out.append(replace(match.group(0)))
            i = match.end()
        else:
            out.append(ch)
            i += 1
    return "".join(out)
