"""FQL errors: what the user wrote wrong (with a position) versus what we got wrong."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from flowscope.errors import FlowscopeError
from flowscope.query.ast import Pos


class QueryError(FlowscopeError):
    """A mistake in the query text (or its run), shown to the user with line and column.

    `line`/`column` are 1-based and None when the problem has no place in the text (e.g. the
    query ran too long).
    """

    code = "query_error"

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column

    @classmethod
    def at(cls, pos: Pos | None, message: str) -> QueryError:
        if pos is None:
            return cls(message)
        return cls(message, pos.line, pos.column)

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "line": self.line,
                "column": self.column,
            }
        }

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}, column {self.column}: {self.message}"


class InternalQueryError(Exception):
    """A bug in the FQL compiler: never shown to users as if it were their mistake."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
