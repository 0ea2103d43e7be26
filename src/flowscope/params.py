"""Checks for values the JSON routes read from a request, shared by every domain's `api.py`.

PostgreSQL text and jsonb cannot hold NUL, and no UTF-8 encodes a lone UTF-16 surrogate: such
values are refused as bad input naming where they are, instead of failing in SQL as a 500.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from flowscope.errors import FlowscopeError

_NUL = "must not contain a NUL character (\\u0000)"
_SURROGATE = "must not contain an unpaired UTF-16 surrogate"


def _problem(text: str) -> str | None:
    if "\x00" in text:
        return _NUL
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _SURROGATE
    return None


def _storable_text(value: str) -> str:
    problem = _problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_storable_text)]
"""A slug, name or filter read from the path or the query string."""


def check_storable(value: Any, where: str = "") -> None:
    """Raise a 400 naming the first string (key or value) of a JSON body that cannot be stored."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                inner = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and (problem := _problem(key)) is not None:
                    raise FlowscopeError(f"{path or 'body'}: a key {problem}")
                stack.append((child, inner))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node))
        elif isinstance(node, str) and (problem := _problem(node)) is not None:
            raise FlowscopeError(f"{path or 'body'}: {problem}")
