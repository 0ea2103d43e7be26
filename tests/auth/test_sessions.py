"""Server-side sessions: forged and copied cookies, expiry, revocation, cookie flags."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator

import itsdangerous
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.auth import users
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.settings import Settings
from tests.auth.test_web_login import HTML, login_post, make_user, signed_in
from tests.conftest import PASSWORD, csrf_from

OLD_BUILT_IN_SECRETS = ["development-secret-change-me", "change-me-in-production"]


def starlette_cookie(secret: str, data: dict[str, object]) -> str:
    """A cookie as Starlette's SessionMiddleware signs it: what anyone could make before."""
    payload = base64.b64encode(json.dumps(data).encode())
    return itsdangerous.TimestampSigner(secret).sign(payload).decode()


@pytest.mark.parametrize("secret", OLD_BUILT_IN_SECRETS)
def test_signing_uid_1_with_a_built_in_secret_gives_nothing(
    client: TestClient, clean_db: Database, session: Session, secret: str
) -> None:
    make_user(clean_db, "root", Role.admin)
    assert session.scalar(text("select id from users where username = 'root'")) == 1
    client.cookies.set("flowscope_session", starlette_cookie(secret, {"uid": 1}))
    response = client.get("/admin/tokens", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert "/login" in response.headers["location"]
    assert client.get("/api/v1/flows").status_code == 401


def test_a_copied_cookie_stops_working_after_sign_out(
    sign_in: Callable[..., TestClient], settings: Settings, clean_db: Database
) -> None:
    browser = sign_in(Role.admin)
    stolen = browser.cookies["flowscope_session"]
    token = csrf_from(browser.get("/events").text)
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 200
    with TestClient(create_app(settings, database=clean_db)) as thief:
        thief.cookies.set("flowscope_session", stolen)
        assert not signed_in(thief)


def test_the_cookie_holds_a_random_id_stored_only_as_its_hash(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    browser = sign_in(Role.viewer, username="ann")
    raw = browser.cookies["flowscope_session"]
    assert len(raw) >= 43
    assert "uid" not in raw
    rows = session.execute(
        text("select s.id_hash, u.username from user_sessions s join users u on u.id = s.user_id")
    ).all()
    assert rows == [(hashlib.sha256(raw.encode()).hexdigest(), "ann")]


def test_each_sign_in_gets_a_new_session_id(client: TestClient, clean_db: Database) -> None:
    make_user(clean_db)
    planted = "planted-by-an-attacker-" + "x" * 20
    # as the server's own cookies are stored, so that the server can clear it
    client.cookies.set("flowscope_session", planted, domain="testserver.local")
    assert login_post(client, "ann", PASSWORD).status_code == 303
    first = client.cookies["flowscope_session"]
    assert first != planted
    client.cookies.clear()
    assert login_post(client, "ann", PASSWORD).status_code == 303
    assert client.cookies["flowscope_session"] != first


def test_a_session_idle_too_long_ends_and_is_purged_at_the_next_sign_in(
    sign_in: Callable[..., TestClient], clean_db: Database, session: Session
) -> None:
    browser = sign_in(Role.viewer, username="ann")
    stale = browser.cookies["flowscope_session"]
    with clean_db.engine.begin() as conn:
        conn.execute(text("update user_sessions set last_seen_at = now() - interval '8 hours 1 s'"))
    assert not signed_in(browser)
    assert "flowscope_session" not in browser.cookies  # the stale cookie is cleared
    assert login_post(browser, "ann", PASSWORD).status_code == 303
    hashes = session.scalars(text("select id_hash from user_sessions")).all()
    assert hashes == [hashlib.sha256(browser.cookies["flowscope_session"].encode()).hexdigest()]
    assert hashlib.sha256(stale.encode()).hexdigest() not in hashes


def test_a_session_past_its_absolute_lifetime_ends_even_when_used(
    sign_in: Callable[..., TestClient], clean_db: Database
) -> None:
    browser = sign_in(Role.viewer)
    with clean_db.engine.begin() as conn:
        conn.execute(text("update user_sessions set expires_at = now() - interval '1 s'"))
    assert not signed_in(browser)


def test_using_a_session_moves_its_idle_deadline(
    sign_in: Callable[..., TestClient], clean_db: Database, session: Session
) -> None:
    browser = sign_in(Role.viewer)
    with clean_db.engine.begin() as conn:
        conn.execute(text("update user_sessions set last_seen_at = now() - interval '7 hours'"))
    assert signed_in(browser)
    idle = session.scalar(text("select now() - last_seen_at from user_sessions"))
    assert idle is not None
    assert idle.total_seconds() < 3600


def test_disabling_a_user_ends_every_session_of_theirs(
    sign_in: Callable[..., TestClient], clean_db: Database, settings: Settings
) -> None:
    browser = sign_in(Role.viewer, username="ann")
    with TestClient(create_app(settings, database=clean_db)) as laptop:
        assert login_post(laptop, "ann", PASSWORD).status_code == 303
        with clean_db.sessions.begin() as s:
            assert users.set_disabled(s, users.find_user(s, "ann"), True) == 2
        assert not signed_in(browser)
        assert not signed_in(laptop)


def test_a_new_password_ends_every_session_and_the_old_one_stops_working(
    sign_in: Callable[..., TestClient], clean_db: Database, session: Session
) -> None:
    browser = sign_in(Role.viewer, username="ann")
    with clean_db.sessions.begin() as s:
        assert users.set_password(s, users.find_user(s, "ann"), "a brand new password") == 1
    assert not signed_in(browser)
    assert login_post(browser, "ann", PASSWORD).status_code == 401
    assert login_post(browser, "ann", "a brand new password").status_code == 303


@pytest.fixture
def https_client(clean_db: Database, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"secure_cookies": True}), database=clean_db)
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def test_cookies_are_secure_when_secure_cookies_is_set(
    https_client: TestClient, clean_db: Database
) -> None:
    make_user(clean_db)
    form = https_client.get("/login")
    assert "secure" in form.headers["set-cookie"].lower()  # the pre-session cookie
    response = login_post(https_client, "ann", PASSWORD)
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("flowscope_session=")
    for flag in ("httponly", "samesite=lax", "secure", "max-age=604800"):
        assert flag in cookie


def test_cookies_are_not_secure_by_default(client: TestClient, clean_db: Database) -> None:
    make_user(clean_db)
    cookie = login_post(client, "ann", PASSWORD).headers["set-cookie"].lower()
    assert "secure" not in cookie
