"""Templates (with Jinja2 fragments for HTMX partial renders) and the rules every page shares:
how a page renders, redirects after a form post, and answers a form with errors.

Route names (one convention, for `url_for` in code and templates):
- JSON routes start with `api_` (`api_dashboards`, `api_query`).
- A page or action on one item is singular, the noun first and then the action:
  `flow_edit`, `flow_save`, `dashboard_delete`, `dashboard_tile_move`, `generator_run`,
  `token_revoke`; a page showing one item is the bare noun (`dashboard`, `generator`).
- A page or action on a collection is plural: `flows_manage`, `dashboards`, `generators`,
  `tokens`, `events_overview`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
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


def redirect(request: Request, url: str) -> Response:
    """Where to go after a form post: HTMX gets `HX-Redirect` (it would otherwise swap the
    target page into the form's place), a plain browser a 303 (the next request is a GET)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def invalid_form_status(request: Request) -> int:
    """400 for a plain form post; 200 for HTMX, which does not swap error responses, so that
    the form with its inline errors replaces the page."""
    return 200 if is_htmx(request) else 400


def render_invalid(
    request: Request, name: str, context: dict[str, Any], *, block: str | None = None
) -> Response:
    """A form rendered again with its errors (in `context`), nothing saved."""
    return render(request, name, context, status_code=invalid_form_status(request), block=block)
