"""Property-based requests to every JSON route under /api/, from the app's own OpenAPI schema:
none answers a server error (5xx). And every JSON route documents its answer's schema.

Requests are signed with a token holding every scope, and go in-process to an app on the test
database, which holds one flow with correlated events and one dashboard; path parameters are
often those real slugs and ids, so the requests reach the code past "not found".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.auth.models import Scope
from flowscope.dashboards import service as dashboards
from flowscope.db import Database
from flowscope.settings import Settings
from tests.flows.correlation_support import drain, event, ingest, make_flow


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_ctx: schemathesis.SerializationContext, value: Any) -> dict[str, Any]:
    text = value if isinstance(value, str) else json.dumps(value)
    return {"data": text.encode("utf-8", "surrogatepass")}


@schemathesis.serializer("application/yaml")
def _yaml(_ctx: schemathesis.SerializationContext, value: Any) -> dict[str, Any]:
    """A flow sent as YAML: text as is, anything else as JSON (which is YAML too)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return {"data": text.encode("utf-8", "surrogatepass")}


_DOCUMENT = create_app(Settings(env="test", bootstrap_admin=False)).openapi()
schema = schemathesis.openapi.from_dict(_DOCUMENT).include(path_regex=r"^/(api/|healthz|readyz)")

FLOW, DASHBOARD, PROVIDER, CORRELATION_ID = "orders", "checkout", "shop", "A-1"
REAL = {"provider": PROVIDER, "correlation_id": CORRELATION_ID}


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Half the time, the seeded flow, dashboard, provider and instance instead of noise."""
    if not path_parameters or context.operation is None:
        return st.just(path_parameters)
    slug = DASHBOARD if context.operation.path.startswith("/api/v1/dashboards") else FLOW
    real = {**REAL, "slug": slug}
    seeded = {name: real.get(name, value) for name, value in path_parameters.items()}
    return st.sampled_from([path_parameters, seeded])


@pytest.fixture
def app(clean_db: Database, settings: Settings) -> FastAPI:
    return create_app(settings, database=clean_db)


@pytest.fixture
def headers(clean_db: Database) -> dict[str, str]:
    """An admin token with every scope, and the seeded data."""
    with clean_db.sessions.begin() as s:
        _, secret = auth_service.create_token(s, "schemathesis", tuple(Scope))
        spec = dashboards.parse_spec(
            {"name": "Checkout", "tiles": [{"id": "t1", "query": "fetch bizevents | limit 5"}]}
        )
        dashboards.create(s, spec, "test", slug=DASHBOARD)
    make_flow(clean_db, slug=FLOW)
    now = datetime.now(UTC) - timedelta(hours=1)
    events = [event(CORRELATION_ID, "order.placed"), event(CORRELATION_ID, "payment.captured", 5)]
    for e in events:
        e.timestamp = now + (e.timestamp - events[0].timestamp)
    ingest(clean_db, events)
    drain(clean_db)
    return {"Authorization": f"Api-Token {secret}"}


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_json_route_answers_a_server_error(
    case: Case, app: FastAPI, headers: dict[str, str]
) -> None:
    case.call_and_validate(app=app, headers=headers, checks=[not_a_server_error])


def test_every_json_route_documents_a_response_model() -> None:
    vague = []
    for path, operations in _DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                if not status.startswith("2") or "application/json" not in content:
                    continue  # YAML and the like: documented by their media type
                answer = content["application/json"]["schema"]
                shape = answer.get("items", answer)
                if "$ref" not in shape:
                    vague.append(f"{method.upper()} {path} {status}")
    assert vague == []
