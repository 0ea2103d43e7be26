"""The users page: admins create users, change roles, disable, set passwords, end sessions."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.settings import Settings
from tests.auth.test_web_login import HTML, login_post, make_user, signed_in
from tests.conftest import PASSWORD, csrf_from


def users_csrf(browser: TestClient) -> str:
    page = browser.get("/admin/users", headers=HTML)
    assert page.status_code == 200
    return csrf_from(page.text)


def user_id(session: Session, name: str) -> int:
    found = session.scalar(text("select id from users where username = :n"), {"n": name})
    assert found is not None
    return int(found)


@pytest.fixture
def admin(sign_in: Callable[..., TestClient]) -> TestClient:
    return sign_in(Role.admin, username="boss")


@pytest.fixture
def ann_elsewhere(clean_db: Database, settings: Settings) -> Iterator[TestClient]:
    """Ann, a viewer, signed in in another browser."""
    make_user(clean_db, "ann")
    with TestClient(create_app(settings, database=clean_db)) as other:
        assert login_post(other, "ann", PASSWORD).status_code == 303
        yield other


def test_the_users_page_is_for_admins_only(sign_in: Callable[..., TestClient]) -> None:
    browser = sign_in(Role.editor)
    assert browser.get("/admin/users", headers=HTML).status_code == 403


def test_the_nav_links_admins_to_the_users_page(admin: TestClient) -> None:
    page = admin.get("/events", headers=HTML).text
    assert 'href="http://testserver/admin/users"' in page


def test_an_admin_creates_a_user_who_can_then_sign_in(
    admin: TestClient, client: TestClient, session: Session
) -> None:
    data = {"username": "carl", "password": "carl's password", "role": "editor"}
    response = admin.post("/admin/users", data={**data, "csrf_token": users_csrf(admin)})
    assert response.status_code == 200
    assert "Created carl (editor)." in response.text
    role = session.scalar(text("select role from users where username = 'carl'"))
    assert role == "editor"


def test_a_too_short_password_is_shown_as_an_error_and_creates_nothing(
    admin: TestClient, session: Session
) -> None:
    data = {"username": "carl", "password": "short", "csrf_token": users_csrf(admin)}
    response = admin.post("/admin/users", data=data, headers=HTML)
    assert response.status_code == 400
    assert "password: at least 8 characters" in response.text
    assert session.scalar(text("select count(*) from users where username = 'carl'")) == 0


def test_changes_need_the_csrf_token(
    admin: TestClient, ann_elsewhere: TestClient, session: Session
) -> None:
    ann = user_id(session, "ann")
    for path in (f"/admin/users/{ann}/disable", f"/admin/users/{ann}/sessions/end"):
        assert admin.post(path, data={}, headers=HTML).status_code == 403
    assert signed_in(ann_elsewhere)


def test_disabling_a_user_signs_them_out_everywhere(
    admin: TestClient, ann_elsewhere: TestClient, session: Session
) -> None:
    ann = user_id(session, "ann")
    url = f"/admin/users/{ann}/disable"
    response = admin.post(url, data={"csrf_token": users_csrf(admin)}, follow_redirects=False)
    assert response.status_code == 303
    assert "Disabled ann; 1 session(s) ended." in admin.get("/admin/users", headers=HTML).text
    assert not signed_in(ann_elsewhere)
    assert login_post(ann_elsewhere, "ann", PASSWORD).status_code == 401
    url = f"/admin/users/{ann}/enable"
    admin.post(url, data={"csrf_token": users_csrf(admin)})
    assert login_post(ann_elsewhere, "ann", PASSWORD).status_code == 303


def test_setting_a_password_ends_the_users_sessions(
    admin: TestClient, ann_elsewhere: TestClient, session: Session
) -> None:
    ann = user_id(session, "ann")
    data = {"password": "ann's new password", "csrf_token": users_csrf(admin)}
    admin.post(f"/admin/users/{ann}/password", data=data)
    assert not signed_in(ann_elsewhere)
    assert login_post(ann_elsewhere, "ann", "ann's new password").status_code == 303


def test_ending_sessions_keeps_the_account_usable(
    admin: TestClient, ann_elsewhere: TestClient, session: Session
) -> None:
    ann = user_id(session, "ann")
    admin.post(f"/admin/users/{ann}/sessions/end", data={"csrf_token": users_csrf(admin)})
    assert not signed_in(ann_elsewhere)
    assert login_post(ann_elsewhere, "ann", PASSWORD).status_code == 303


def test_changing_a_role_takes_effect_on_the_next_request(
    admin: TestClient, ann_elsewhere: TestClient, session: Session
) -> None:
    assert ann_elsewhere.get("/admin/users", headers=HTML).status_code == 403
    ann = user_id(session, "ann")
    data = {"role": "admin", "csrf_token": users_csrf(admin)}
    admin.post(f"/admin/users/{ann}/role", data=data)
    assert ann_elsewhere.get("/admin/users", headers=HTML).status_code == 200


def test_the_last_admin_can_be_neither_demoted_nor_disabled(
    admin: TestClient, session: Session
) -> None:
    boss = user_id(session, "boss")
    data = {"role": "viewer", "csrf_token": users_csrf(admin)}
    response = admin.post(f"/admin/users/{boss}/role", data=data, headers=HTML)
    assert response.status_code == 409
    assert "only enabled admin" in response.text
    response = admin.post(
        f"/admin/users/{boss}/disable", data={"csrf_token": users_csrf(admin)}, headers=HTML
    )
    assert response.status_code == 409
    assert session.scalar(text("select role from users where username = 'boss'")) == "admin"
    assert signed_in(admin)


def test_an_unknown_user_is_404(admin: TestClient) -> None:
    response = admin.post("/admin/users/999/disable", data={"csrf_token": users_csrf(admin)})
    assert response.status_code == 404


def test_the_page_shows_live_sessions_per_user(
    admin: TestClient, ann_elsewhere: TestClient, session: Session
) -> None:
    page = admin.get("/admin/users", headers=HTML).text
    ann = user_id(session, "ann")
    row = page.split(f'id="user-{ann}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">1</td>' in row
