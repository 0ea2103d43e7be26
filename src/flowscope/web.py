"""Templates (with Jinja2 fragments for HTMX partial renders) and page responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.responses import Response

from flowscope.deps import csrf_token
from flowscope.paths import resource_dir

templates = Jinja2Blocks(directory=str(resource_dir("templates")))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z") if value else "—"


templates.env.filters["when"] = _when
templates.env.filters["thousands"] = lambda n: f"{n:,}"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    """Render a page, or only `block` of it when given (HTMX swaps)."""
    ctx = {"request": request, "csrf_token": csrf_token(request), **(context or {})}
    ctx.setdefault("user", getattr(request.state, "user", None))
    if block is not None:
        return templates.TemplateResponse(
            request, name, ctx, status_code=status_code, block_name=block
        )
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
