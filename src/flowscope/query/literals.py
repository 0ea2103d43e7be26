"""FQL literal tokens → Python values: strings (with escapes, or raw when triple-quoted),
durations in nanoseconds."""

from __future__ import annotations

import re
from decimal import Decimal

from flowscope.query.expr_text import UNIT_NS

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([a-zA-Z]+)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "`": "`"}
_ESCAPE = re.compile(r"\\(.)")
MAX_BIGINT = 2**63 - 1


def duration_ns(text: str) -> int:
    match = _DURATION.fullmatch(text)
    assert match is not None  # noqa: S101 - the lexer only lets durations through
    return int(Decimal(match.group(1)) * UNIT_NS[match.group(2)])


def unquote(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def string_value(token: str) -> str:
    """A STRING token's value: DQL's triple-quoted strings are raw (no escapes)."""
    return token[3:-3] if token.startswith('"""') else unquote(token)
