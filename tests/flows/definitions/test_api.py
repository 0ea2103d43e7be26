from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flowscope.auth.models import Role
from flowscope.flows.definitions.yaml_io import from_yaml, to_yaml
from tests.conftest import csrf_from
from tests.flows.factories import definition, store_cases

URL = "/api/v1/flows"


@pytest.fixture
def admin(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token('admin', name='deployer')}"}


@pytest.fixture
def reader(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token('events:read')}"}


def body(**overrides: object) -> dict[str, object]:
    return definition(**overrides).model_dump(mode="json", by_alias=True, exclude_none=True)


def test_put_creates_then_versions_and_get_shows_who_and_when(
    client: TestClient, admin: dict[str, str], reader: dict[str, str]
) -> None:
    created = client.put(f"{URL}/online-orders", json=body(), headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert client.put(f"{URL}/online-orders", json=body(), headers=admin).json()["version"] == 1
    updated = client.put(f"{URL}/online-orders", json=body(name="Orders"), headers=admin)
    assert updated.status_code == 200
    got = client.get(f"{URL}/online-orders", headers=reader).json()
    assert (got["version"], got["name"], got["updated_by"]) == (2, "Orders", "token:deployer")
    assert got["definition"]["steps"][0]["key"] == "placed"
    assert got["updated_at"]
    listed = client.get(URL, headers=reader).json()
    assert [(f["slug"], f["version"]) for f in listed] == [("online-orders", 2)]
    versions = client.get(f"{URL}/online-orders/versions", headers=reader).json()
    assert [(v["version"], v["changed_by"], v["changes"]) for v in versions] == [
        (2, "token:deployer", ["changed name"]),
        (1, "token:deployer", ["created"]),
    ]


def test_expected_version_refuses_to_overwrite_a_newer_change(
    client: TestClient, admin: dict[str, str]
) -> None:
    url = f"{URL}/online-orders"
    assert (
        client.put(url, params={"expected_version": 0}, json=body(), headers=admin).status_code
        == 201
    )
    again = client.put(url, params={"expected_version": 0}, json=body(), headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["message"].startswith(
        "flow 'online-orders' is at version 1 by token:deployer at "
    )
    ok = client.put(url, params={"expected_version": 1}, json=body(name="B"), headers=admin)
    assert ok.json()["version"] == 2
    stale = client.put(url, params={"expected_version": 1}, json=body(name="C"), headers=admin)
    assert stale.status_code == 409


def test_put_accepts_yaml_and_export_gives_the_same_yaml(
    client: TestClient, admin: dict[str, str], reader: dict[str, str]
) -> None:
    text = to_yaml(definition(description="Orders from the web shop."))
    response = client.put(
        f"{URL}/online-orders",
        content=text.encode(),
        headers={**admin, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 201, response.text
    exported = client.get(f"{URL}/online-orders/export.yaml", headers=reader)
    assert exported.headers["content-type"].startswith("application/yaml")
    assert exported.text == text
    client.put(f"{URL}/online-orders", json=body(name="Renamed"), headers=admin)
    old = client.get(f"{URL}/online-orders/export.yaml?version=1", headers=reader)
    assert old.text == text
    assert from_yaml(client.get(f"{URL}/online-orders/export.yaml", headers=reader).text).name == (
        "Renamed"
    )


def test_invalid_definition_is_refused_with_paths_and_nothing_is_stored(
    client: TestClient, admin: dict[str, str], reader: dict[str, str]
) -> None:
    bad = body()
    bad["steps"][1]["timeouts"] = {"drop": "2x"}  # type: ignore[index]
    response = client.put(f"{URL}/online-orders", json=bad, headers=admin)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    assert error["details"] == [
        {
            "path": "steps[1].timeouts.drop",
            "message": "'2x' is not a duration such as 30m, 2h or 1d",
        }
    ]
    assert client.get(URL, headers=reader).json() == []


def test_yaml_syntax_error_names_line_and_column(client: TestClient, admin: dict[str, str]) -> None:
    response = client.put(
        f"{URL}/x",
        content=b"slug: x\nname: [oops\n",
        headers={**admin, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("YAML syntax error at line 3, column 1")


def test_slug_in_url_must_match_the_body(client: TestClient, admin: dict[str, str]) -> None:
    response = client.put(f"{URL}/other", json=body(), headers=admin)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(
        "slug: the body's slug 'online-orders' differs from 'other' in the URL"
    )
    without_slug = body()
    del without_slug["slug"]
    assert client.put(f"{URL}/taken-from-url", json=without_slug, headers=admin).status_code == 201


def test_other_content_types_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    response = client.put(
        f"{URL}/x", content=b"slug=x", headers={**admin, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415


def test_unknown_flow_is_404(client: TestClient, reader: dict[str, str]) -> None:
    for path in ("/nope", "/nope/versions", "/nope/export.yaml"):
        assert client.get(URL + path, headers=reader).status_code == 404


def test_reads_need_a_token_or_a_signed_in_viewer(
    client: TestClient, sign_in: Callable[..., TestClient], make_token: Callable[..., str]
) -> None:
    assert client.get(URL).status_code == 401
    writer_only = {"Authorization": f"Api-Token {make_token('events:write')}"}
    assert client.get(URL, headers=writer_only).status_code == 403
    sign_in(Role.viewer)
    assert client.get(URL).status_code == 200


def test_writes_need_admin_token_not_read_token(client: TestClient, reader: dict[str, str]) -> None:
    response = client.put(f"{URL}/online-orders", json=body(), headers=reader)
    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]


def test_signed_in_viewer_cannot_write(
    client: TestClient, sign_in: Callable[..., TestClient]
) -> None:
    sign_in(Role.viewer)
    csrf = csrf_from(client.get("/").text)
    response = client.put(f"{URL}/online-orders", json=body(), headers={"X-CSRF-Token": csrf})
    assert response.status_code == 403


def test_signed_in_editor_writes_with_the_csrf_token_only(
    client: TestClient, sign_in: Callable[..., TestClient]
) -> None:
    sign_in(Role.editor, username="erin")
    assert client.put(f"{URL}/online-orders", json=body()).status_code == 403
    csrf = csrf_from(client.get("/").text)
    response = client.put(f"{URL}/online-orders", json=body(), headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    assert response.json()["updated_by"] == "erin"


def test_discover_and_suggest_from_stored_events(
    client: TestClient, reader: dict[str, str], admin: dict[str, str], session: Session
) -> None:
    store_cases(
        session, {"A": ["placed", "paid", "shipped"], "B": ["placed", "paid"]}, provider="shop.v1"
    )
    found = client.get(
        "/api/v1/providers/shop.v1/discover", params={"correlation": "order.id"}, headers=reader
    )
    assert found.status_code == 200, found.text
    data = found.json()
    assert (data["cases"], data["events"], data["activities"], data["variants"]) == (2, 5, 3, 2)
    assert data["edges"][0] == {"source": "placed", "target": "paid", "count": 2}
    assert data["start_activities"] == {"placed": 2}
    draft = client.get(
        "/api/v1/providers/shop.v1/suggest", params={"correlation": "order.id"}, headers=reader
    ).json()
    assert draft["slug"] == "shop-v1"
    assert [s["key"] for s in draft["steps"]] == ["placed", "paid", "shipped"]
    # one click: the draft is accepted as it is
    saved = client.put(f"{URL}/shop-v1", json=draft, headers=admin)
    assert saved.status_code == 201, saved.text
    assert saved.json()["definition"] == draft  # the shape a definition is stored in: no nulls


def test_discover_needs_a_correlation_and_names_a_bad_one(
    client: TestClient, reader: dict[str, str]
) -> None:
    missing = client.get("/api/v1/providers/shop/discover", headers=reader)
    assert missing.status_code == 400
    assert "correlation" in missing.json()["error"]["message"]
    bad = client.get(
        "/api/v1/providers/shop/discover", params={"correlation": "a..b"}, headers=reader
    )
    assert bad.status_code == 400
    assert "empty part" in bad.json()["error"]["message"]
    nothing = client.get(
        "/api/v1/providers/shop/suggest", params={"correlation": "a.b"}, headers=reader
    )
    assert nothing.status_code == 400
    assert "nothing to suggest" in nothing.json()["error"]["message"]


def test_values_postgresql_cannot_hold_are_refused_as_bad_input(
    client: TestClient, reader: dict[str, str], admin: dict[str, str]
) -> None:
    assert client.put(f"{URL}/online-orders", json=body(), headers=admin).status_code == 201
    for url, field in (
        (f"{URL}/a%00b", "slug"),
        (f"{URL}/a%00b/versions", "slug"),
        ("/api/v1/dashboards/a%00b", "slug"),
        (f"{URL}/online-orders/export.yaml?version=2147483648", "version"),
        ("/api/v1/providers/shop/discover?correlation=order.%00", "correlation"),
        ("/api/v1/providers/sh%00p/suggest?correlation=order.id", "provider"),
        ("/api/v1/events?provider=%00", "provider"),
        ("/api/v1/events?type=a%00", "type"),
    ):
        response = client.get(url, headers=reader)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["message"].startswith(f"{field}: "), response.text
    for url, sent, field in (
        (f"{URL}/online-orders", body(name="Orders\x00"), "name"),
        (
            "/api/v1/dashboards/x",
            {"name": "X", "tiles": [{"id": "t", "query": "\ud800"}]},
            "tiles[0].query",
        ),
    ):
        # json.dumps escapes the lone surrogate (\ud800), which httpx could not encode
        json_headers = {**admin, "Content-Type": "application/json"}
        response = client.put(url, content=json.dumps(sent), headers=json_headers)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["message"].startswith(f"{field}: "), response.text
    assert client.get(f"{URL}/online-orders", headers=reader).json()["version"] == 1
