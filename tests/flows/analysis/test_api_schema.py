"""The analysis JSON routes describe what they answer: named routes and real response schemas."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from flowscope.flows.analysis import api


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # Only the router under test: its schema must not depend on what else the app mounts.
    app = FastAPI()
    app.include_router(api.router)
    return app.openapi()


def test_every_route_declares_a_response_schema_with_properties(
    document: dict[str, Any],
) -> None:
    routes = [r for r in api.router.routes if isinstance(r, APIRoute)]
    assert len(routes) == 6
    for route in routes:
        operation = document["paths"][route.path_format]["get"]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema != {}, route.name
        assert _resolve(document, schema)["properties"], route.name


def test_route_names_follow_the_api_convention() -> None:
    names = {r.name for r in api.router.routes if isinstance(r, APIRoute)}
    assert names == {
        "api_flows_overview",
        "api_flow_analysis",
        "api_flow_instances",
        "api_flow_instance",
        "api_flow_variants",
        "api_flow_builds",
    }


def test_keyword_keys_keep_their_json_names(document: dict[str, Any]) -> None:
    # `from` is a Python keyword: the models say `from_`, the JSON must still say `from`.
    schemas = document["components"]["schemas"]
    assert set(schemas["Window"]["properties"]) == {"from", "to"}
    assert "from" in schemas["OutOfOrder"]["properties"]


def test_api_docs_of_the_app_show_the_analysis_schemas(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    response = spec["paths"]["/api/v1/flows/{slug}/analysis"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FlowAnalysis"
    }
    # A model named like one of another module gets a module-qualified name in the docs.
    qualified = [n for n in spec["components"]["schemas"] if "analysis__schemas" in n]
    assert qualified == []
