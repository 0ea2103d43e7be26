"""What an FQL function is: its SQL implementation, arity and parameter names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.values import Params, T, Typed, coerce


@dataclass
class CallContext:
    params: Params
    call: ast.Call
    now_sql: Callable[[], str]
    record_order: tuple[tuple[str, bool], ...]  # (SQL, descending): takeFirst/takeLast order

    def arg(self, args: list[Typed], i: int, target: T) -> str:
        return coerce(args[i], target, self.call.args[i].pos, f"argument {i + 1} of {self.name}")

    @property
    def name(self) -> str:
        return self.call.name

    def fail(self, message: str) -> QueryError:
        return QueryError.at(self.call.pos, f"{self.name}(): {message}")


Impl = Callable[[CallContext, list[Typed]], Typed]


@dataclass(frozen=True)
class Function:
    impl: Impl
    min_args: int
    max_args: int | None  # None: any number
    signature: str
    # parameter names by position: a call may give these as `name: value` (DQL's `else:`)
    names: tuple[str, ...] = ()
