"""Signing in and out, CSRF on every form, and the API token admin page."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.auth import service as auth_service
from flowscope.auth.models import Role
from flowscope.db import Database
from tests.conftest import PASSWORD, csrf_from
from tests.fixtures.events import INGEST_URL, make_event

HTML = {"Accept": "text/html,application/xhtml+xml"}


def make_user(db: Database, name: str = "ann", role: Role = Role.viewer) -> None:
    with db.sessions.begin() as s:
        auth_service.create_user(s, name, PASSWORD, role)


def login_post(
    client: TestClient, username: str, password: str, next_: str | None = None
) -> httpx.Response:
    data = {
        "username": username,
        "password": password,
        "csrf_token": csrf_from(client.get("/login").text),
    }
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data, follow_redirects=False)


def signed_in(client: TestClient) -> bool:
    return client.get("/events", headers=HTML, follow_redirects=False).status_code == 200


def test_login_form_is_shown(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="password"' in page.text
    assert csrf_from(page.text)


def test_wrong_password_shows_the_form_again_with_401(
    client: TestClient, clean_db: Database
) -> None:
    make_user(clean_db)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "ann", "password": "wrong password", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 401
    assert "wrong password" in response.text
    assert not signed_in(client)


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "nobody", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 401
    assert "Unknown user or wrong password." in response.text


def test_successful_login_sets_an_httponly_lax_session_cookie(
    client: TestClient, clean_db: Database
) -> None:
    make_user(clean_db)
    response = login_post(client, "ann", PASSWORD)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("flowscope_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert signed_in(client)


def test_login_follows_a_same_site_next(client: TestClient, clean_db: Database) -> None:
    make_user(clean_db)
    response = login_post(client, "ann", PASSWORD, next_="/admin/tokens?x=1")
    assert response.headers["location"] == "/admin/tokens?x=1"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_cannot_redirect_off_site(client: TestClient, clean_db: Database, target: str) -> None:
    make_user(clean_db)
    response = login_post(client, "ann", PASSWORD, next_=target)
    assert response.headers["location"] == "/"
    # and when already signed in, the login page's own redirect obeys the same rule
    again = client.get("/login", params={"next": target}, follow_redirects=False)
    assert again.headers["location"] == "/"


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_login_without_the_right_csrf_token_is_403(
    client: TestClient, clean_db: Database, token: str | None
) -> None:
    make_user(clean_db)
    client.get("/login")
    data = {"username": "ann", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert not signed_in(client)


def test_csrf_token_from_another_session_is_refused(client: TestClient, clean_db: Database) -> None:
    make_user(clean_db)
    foreign = csrf_from(client.get("/login").text)
    client.cookies.clear()
    client.get("/login")
    data = {"username": "ann", "password": PASSWORD, "csrf_token": foreign}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 403


def test_logout_needs_csrf_and_ends_the_session(
    sign_in: Callable[..., TestClient],
) -> None:
    browser = sign_in(Role.viewer)
    assert browser.post("/logout", follow_redirects=False).status_code == 403
    assert signed_in(browser)
    token = csrf_from(browser.get("/events").text)
    response = browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert not signed_in(browser)


def test_csrf_header_is_accepted_instead_of_the_form_field(
    sign_in: Callable[..., TestClient],
) -> None:
    browser = sign_in(Role.viewer)
    token = csrf_from(browser.get("/events").text)
    response = browser.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert not signed_in(browser)


def test_tokens_page_sends_anonymous_visitors_to_login(client: TestClient) -> None:
    response = client.get("/admin/tokens", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/login?next=%2Fadmin%2Ftokens")


def test_login_redirect_keeps_the_query_of_the_page_asked_for(client: TestClient) -> None:
    response = client.get("/admin/tokens?page=2", headers=HTML, follow_redirects=False)
    assert response.headers["location"].endswith("/login?next=%2Fadmin%2Ftokens%3Fpage%3D2")


def test_tokens_page_refuses_a_viewer(sign_in: Callable[..., TestClient]) -> None:
    browser = sign_in(Role.viewer)
    response = browser.get("/admin/tokens", headers=HTML)
    assert response.status_code == 403
    assert "admin role" in response.text


def test_tokens_page_refuses_an_editor_to_create(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    browser = sign_in(Role.editor)
    token = csrf_from(browser.get("/events").text)
    data = {"name": "x", "scopes": "events:write", "csrf_token": token}
    assert browser.post("/admin/tokens", data=data).status_code == 403
    assert session.scalar(text("select count(*) from api_tokens")) == 0


def tokens_csrf(browser: TestClient) -> str:
    page = browser.get("/admin/tokens", headers=HTML)
    assert page.status_code == 200
    return csrf_from(page.text)


def test_admin_creates_a_token_that_is_shown_once_and_stored_as_a_hash(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    browser = sign_in(Role.admin)
    data = {"name": "shop", "scopes": ["events:write"], "csrf_token": tokens_csrf(browser)}
    response = browser.post("/admin/tokens", data=data, headers=HTML)
    assert response.status_code == 200
    secret = response.text.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert secret.startswith(auth_service.TOKEN_PREFIX)
    [(name, token_hash, scopes)] = session.execute(
        text("select name, token_hash, scopes from api_tokens")
    )
    assert (name, scopes) == ("shop", ["events:write"])
    assert token_hash == auth_service.hash_token(secret)
    assert secret not in browser.get("/admin/tokens", headers=HTML).text  # shown once
    ingest = browser.post(
        INGEST_URL, json=make_event(), headers={"Authorization": f"Api-Token {secret}"}
    )
    assert ingest.status_code == 202


def test_token_form_with_an_unknown_scope_shows_the_error(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    browser = sign_in(Role.admin)
    data = {"name": "shop", "scopes": ["events:everything"], "csrf_token": tokens_csrf(browser)}
    response = browser.post("/admin/tokens", data=data, headers=HTML)
    assert response.status_code == 400
    assert "unknown scope" in response.text
    assert session.scalar(text("select count(*) from api_tokens")) == 0


def test_token_creation_without_csrf_is_403_and_creates_nothing(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    browser = sign_in(Role.admin)
    tokens_csrf(browser)
    for data in ({"name": "shop", "scopes": "events:write"}, {"name": "x", "csrf_token": "nope"}):
        assert browser.post("/admin/tokens", data=data, headers=HTML).status_code == 403
    assert session.scalar(text("select count(*) from api_tokens")) == 0


def test_admin_revokes_a_token_and_ingest_then_gets_401(
    sign_in: Callable[..., TestClient], clean_db: Database, session: Session
) -> None:
    with clean_db.sessions.begin() as s:
        token, secret = auth_service.create_token(s, "shop", ["events:write"])
        token_id = token.id
    api = {"Authorization": f"Api-Token {secret}"}
    browser = sign_in(Role.admin)
    url = f"/admin/tokens/{token_id}/revoke"

    assert browser.post(url, data={}, headers=HTML).status_code == 403  # no CSRF: unchanged
    assert browser.post(INGEST_URL, json=make_event(), headers=api).status_code == 202

    response = browser.post(url, data={"csrf_token": tokens_csrf(browser)}, follow_redirects=False)
    assert response.status_code == 303
    revoked = session.scalar(
        text("select revoked_at from api_tokens where id = :i"), {"i": token_id}
    )
    assert revoked is not None
    retry = browser.post(INGEST_URL, json=make_event(**{"event.id": "o-2"}), headers=api)
    assert retry.status_code == 401


def test_revoking_an_unknown_token_is_404(sign_in: Callable[..., TestClient]) -> None:
    browser = sign_in(Role.admin)
    response = browser.post("/admin/tokens/999/revoke", data={"csrf_token": tokens_csrf(browser)})
    assert response.status_code == 404


def test_disabled_user_cannot_sign_in_and_loses_an_open_session(
    sign_in: Callable[..., TestClient], clean_db: Database
) -> None:
    browser = sign_in(Role.viewer, username="ann")
    assert signed_in(browser)
    with clean_db.engine.begin() as conn:
        conn.execute(text("update users set disabled = true where username = 'ann'"))
    assert not signed_in(browser)
    browser.cookies.clear()
    assert login_post(browser, "ann", PASSWORD).status_code == 401


def test_tampered_session_cookie_is_ignored(sign_in: Callable[..., TestClient]) -> None:
    browser = sign_in(Role.admin)
    value = browser.cookies["flowscope_session"]
    browser.cookies.clear()
    browser.cookies.set(
        "flowscope_session", value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB")
    )
    assert not signed_in(browser)


def test_csrf_token_from_before_sign_in_is_replaced(client: TestClient, clean_db: Database) -> None:
    make_user(clean_db)
    before = csrf_from(client.get("/login").text)
    data = {"username": "ann", "password": PASSWORD, "csrf_token": before}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    response = client.post("/logout", data={"csrf_token": before}, follow_redirects=False)
    assert response.status_code == 403
    assert signed_in(client)
