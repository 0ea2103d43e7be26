"""Names from Dynatrace's DQL that FQL recognises but does not implement.

A query pasted from a Dynatrace notebook that uses one of these gets "DQL command 'join' is
not supported by FQL" at the right place, rather than "unknown command" or a parser's
"unexpected ':'" from syntax FQL's grammar does not have. Names FQL implements are not listed
here: a command or function that gains an implementation moves out of these lists.
"""

from __future__ import annotations

import re

from flowscope.query.ast import Pos
from flowscope.query.errors import QueryError

COMMANDS = frozenset(
    {
        "describe",
        "fieldsFlatten",
        "fieldsSnapshot",
        "joinNested",
        "load",
        "metrics",
        "search",
        "smartscapeEdges",
        "smartscapeNodes",
        "timeseries",
        "traverse",
    }
)

FUNCTIONS = frozenset(
    # aggregations
    {"correlation", "percentRank", "percentileFromSamples"}
    # text
    | {"decodeUrl", "encodeUrl", "lastIndexOf", "matchesPattern"}
    | {
        "replacePattern",
        "replaceString",
    }
    | {"trim", "punctuation", "levenshteinDistance"}
    # time
    | {"getEnd", "getStart"}
    | {"timestamp", "timestampFromUnixMillis", "timestampFromUnixNanos"}
    | {"timestampFromUnixSeconds", "unixNanosFromTimestamp"}
    # numbers
    | {"ceil", "exp", "floor", "log", "log10", "log1p", "power", "signum", "sqrt"}
    # arrays and records
    | {"arrayConcat", "arrayDistinct", "arrayFirst", "arrayFlatten", "arrayIndexOf"}
    | {"arrayLast", "arrayMedian", "arrayMovingAvg", "arrayPercentile", "arrayRemoveNulls"}
    | {"arrayReverse", "arraySlice", "arraySort", "arrayDelta", "arrayCumulativeSum"}
    | {"iAny", "iCollectArray", "iIndex"}
    # conversions and other
    | {"toArray", "toIp", "toUid", "toVariant", "type", "hashMd5", "hashSha1"}
    | {"hashSha256", "exists", "jsonField"}
)

_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|`[^`\n]*`|//[^\n]*|[|\[\]]|[A-Za-z_][A-Za-z0-9_.]*|.', re.S
)


def unsupported_command(name: str, pos: Pos) -> QueryError | None:
    if name not in COMMANDS:
        return None
    return QueryError.at(pos, f"DQL command '{name}' is not supported by FQL")


def unsupported_function(name: str, pos: Pos) -> QueryError | None:
    if name not in FUNCTIONS:
        return None
    return QueryError.at(pos, f"DQL function '{name}' is not supported by FQL")


def command_at(text: str, offset: int) -> QueryError | None:
    """For a syntax error at `offset`: the unsupported DQL command it sits in, if any (its
    own syntax, e.g. join's `on: {left[id] == right[id]}`, is what FQL could not parse)."""
    current: tuple[str, int] | None = None  # the command being read: its name and offset
    outer: list[tuple[str, int] | None] = []  # the commands around the open [subqueries]
    expect_command = True
    for match in _TOKEN.finditer(text, 0, offset):
        piece = match.group()
        if piece in ("|", "["):
            if piece == "[":
                outer.append(current)
            expect_command = True
        elif piece == "]":
            current = outer.pop() if outer else current
        elif expect_command and (piece[0].isalpha() or piece[0] == "_"):
            current, expect_command = (piece, match.start()), False
        elif not piece.isspace() and not piece.startswith("//"):
            expect_command = False
    if current is None or current[0] not in COMMANDS:
        return None
    name, start = current
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return unsupported_command(name, Pos(line, column))
