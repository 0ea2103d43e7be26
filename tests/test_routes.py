"""Route names follow one convention (see `flowscope.web`) and name one route each."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from flowscope.app import create_app
from flowscope.settings import Settings


def _routes() -> list[APIRoute]:
    app = create_app(Settings(env="test", bootstrap_admin=False, scheduler_enabled=False))
    found: list[APIRoute] = []

    def walk(routes: Sequence[BaseRoute]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            # FastAPI keeps an included router whole (as a route holding the original router)
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)

    walk(app.routes)
    return found


def test_every_route_name_names_one_route() -> None:
    """`url_for` takes the first route of a name: a second one could never be linked to."""
    routes = _routes()
    assert {"flow_edit", "dashboard_tile_move", "api_query", "login_submit"} <= {
        route.name for route in routes
    }
    counts = Counter(route.name for route in routes)
    assert [name for name, n in counts.items() if n > 1] == []


def test_page_routes_are_named_after_their_noun_then_action() -> None:
    pages = [route for route in _routes() if not route.path.startswith("/api")]
    assert pages
    for route in pages:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", route.name), route.name
        assert not route.name.startswith("api_"), f"{route.path} is a page, not JSON"
        verb_first = ("create_", "delete_", "edit_", "new_", "run_", "save_", "revoke_")
        assert not route.name.startswith(verb_first), f"{route.name}: noun first"


def test_editor_and_generator_routes_have_their_singular_names() -> None:
    app = create_app(Settings(env="test", bootstrap_admin=False, scheduler_enabled=False))
    assert app.url_path_for("flow_edit", slug="shop") == "/flows/manage/shop/edit"
    assert app.url_path_for("flows_manage") == "/flows/manage"
    assert app.url_path_for("generator_run", slug="g") == "/generators/g/run"
    assert app.url_path_for("token_revoke", token_id="3") == "/admin/tokens/3/revoke"
    assert app.url_path_for("dashboard_delete", slug="d") == "/dashboards/d/delete"
