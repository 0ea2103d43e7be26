"""Templates of bodies, URLs and subjects, rendered in Jinja's sandbox.

Autoescape is off (the output is JSON or plain text, not HTML); `tojson` writes plain JSON,
so `{"text": {{ alert.rule.name | tojson }}}` is always valid JSON whatever the name holds.
A missing variable, a refused attribute (`''.__class__`) or a syntax error fails the action
with the message; an output over `MAX_OUTPUT` characters is refused.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 256 * 1024


class TemplateFailed(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


_ENV = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_ENV.filters["tojson"] = _tojson


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    return _ENV.from_string(source)


def render(field: str, source: str, data: dict[str, Any]) -> str:
    if "{" not in source:
        return source  # plain text: nothing to render
    parts: list[str] = []
    size = 0
    try:
        # Streamed, so that a loop writing gigabytes stops at the bound instead of filling memory.
        for chunk in _compiled(source).generate(data):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateFailed(field, f"renders to more than {MAX_OUTPUT:,} characters")
            parts.append(chunk)
    except TemplateError as exc:
        raise TemplateFailed(field, f"{type(exc).__name__}: {exc.message or exc}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise TemplateFailed(field, f"{type(exc).__name__}: {exc}") from None
    return "".join(parts)


def check(field: str, source: str) -> None:
    """Syntax only, when the automation is saved (variables are known at run time)."""
    try:
        _compiled(source)
    except TemplateError as exc:
        raise TemplateFailed(field, f"{type(exc).__name__}: {exc}") from None
