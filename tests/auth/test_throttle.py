"""Sign-in throttling per account and address, and the bound on concurrent password hashes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.auth import passwords, throttle
from flowscope.db import Database
from flowscope.settings import Settings
from tests.auth.test_web_login import login_post, make_user
from tests.conftest import PASSWORD, csrf_from


def wait_until(condition: Callable[[], bool]) -> None:
    """Synchronisation, not a timing assertion: give the server threads time to get there."""
    for _ in range(300):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the condition never held")


def post_login(client: TestClient, username: str, password: str) -> httpx.Response:
    """A sign-in from threads sharing one browser, which has its pre-session cookie already
    (were it issued here, the threads would overwrite each other's)."""
    assert "flowscope_csrf" in client.cookies
    data = {"username": username, "password": password}
    data["csrf_token"] = csrf_from(client.get("/login").text)
    return client.post("/login", data=data, follow_redirects=False)


def fail(client: TestClient, username: str = "ann", times: int = 1) -> list[int]:
    return [login_post(client, username, "wrong password").status_code for _ in range(times)]


def test_delays_grow_from_one_second_to_a_cap() -> None:
    free = throttle.ACCOUNT.free_failures
    delays = [throttle.ACCOUNT.delay(n) for n in range(free + 12)]
    assert delays[:free] == [0.0] * free
    assert delays[free : free + 4] == [1.0, 2.0, 4.0, 8.0]
    assert max(delays) == throttle.ACCOUNT.max_delay_seconds
    assert delays == sorted(delays)


class CountingHasher(PasswordHasher):
    """Counts verifications and the most that ran at once (the real argon2 underneath)."""

    def __init__(self, hold: float = 0.0) -> None:
        super().__init__()
        self.calls = 0
        self.running = 0
        self.most = 0
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()
        if hold == 0.0:
            self.release.set()
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        self.entered.set()
        try:
            self.release.wait(timeout=30)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", counting)
    return counting


@pytest.fixture
def slow_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Policies whose first wait (a minute) outlasts any slowness of the test machine."""
    for name in ("ACCOUNT", "ADDRESS"):
        policy = getattr(throttle, name)
        monkeypatch.setattr(throttle, name, replace(policy, first_delay_seconds=60))


def test_after_five_wrong_passwords_the_account_waits_with_429(
    client: TestClient, clean_db: Database, hasher: CountingHasher, slow_policies: None
) -> None:
    make_user(clean_db)
    assert fail(client, times=5) == [401] * 5
    hashed = hasher.calls
    blocked = login_post(client, "ann", PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert 55 <= int(blocked.headers["retry-after"]) <= 60
    assert "Too many failed sign-ins" in blocked.text
    assert hasher.calls == hashed, "a throttled attempt must not cost a password hash"
    assert "flowscope_session" not in client.cookies


def test_the_wait_doubles_with_each_further_failure(
    client: TestClient, clean_db: Database, session: Session
) -> None:
    make_user(clean_db)
    waits = []
    for _ in range(4):
        fail(client, times=5 if not waits else 1)
        waits.append(
            session.scalar(
                text(
                    "select round(extract(epoch from blocked_until - last_failure_at)) "
                    "from login_throttle where key = 'u:ann'"
                )
            )
        )
        session.commit()
        with clean_db.engine.begin() as conn:  # let the next attempt through
            conn.execute(text("update login_throttle set blocked_until = now() - interval '1 s'"))
    assert waits == [1, 2, 4, 8]


def test_the_account_may_try_again_once_the_wait_is_over(
    client: TestClient, clean_db: Database, slow_policies: None
) -> None:
    make_user(clean_db)
    fail(client, times=5)
    assert login_post(client, "ann", PASSWORD).status_code == 429
    with clean_db.engine.begin() as conn:
        conn.execute(text("update login_throttle set blocked_until = now() - interval '1 s'"))
    assert login_post(client, "ann", PASSWORD).status_code == 303


def test_a_success_clears_the_account_counter(
    client: TestClient, clean_db: Database, session: Session
) -> None:
    make_user(clean_db)
    fail(client, times=4)
    assert login_post(client, "ann", PASSWORD).status_code == 303
    assert session.scalar(text("select count(*) from login_throttle where key = 'u:ann'")) == 0


def test_one_address_guessing_many_accounts_is_throttled(
    client: TestClient, clean_db: Database, slow_policies: None
) -> None:
    make_user(clean_db)
    for i in range(throttle.ADDRESS.free_failures):
        fail(client, username=f"user-{i}")  # a new name each time: no account limit applies
    response = login_post(client, "ann", PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1


def test_unknown_accounts_are_throttled_like_real_ones(
    client: TestClient, clean_db: Database, slow_policies: None
) -> None:
    assert fail(client, username="nobody", times=6) == [401] * 5 + [429]


def test_concurrent_sign_ins_hash_at_most_login_hash_concurrency_at_once(
    client: TestClient, clean_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingHasher(hold=1)
    monkeypatch.setattr(passwords, "_hasher", counting)
    for i in range(10):
        make_user(clean_db, f"user-{i}")
    client.get("/login")  # the browser's pre-session cookie, before the threads share it
    with ThreadPoolExecutor(10) as pool:
        futures = [
            pool.submit(post_login, client, f"user-{i}", "wrong password") for i in range(10)
        ]
        wait_until(lambda: counting.running == 2)
        counting.release.set()
        statuses = [f.result().status_code for f in futures]
    assert statuses == [401] * 10
    assert counting.calls == 10
    assert counting.most == 2


@pytest.fixture
def one_slot_client(clean_db: Database, settings: Settings) -> Iterator[TestClient]:
    update = {"login_hash_concurrency": 1, "login_queue_limit": 0}
    with TestClient(create_app(settings.model_copy(update=update), database=clean_db)) as c:
        yield c
    passwords.configure(Settings().login_hash_concurrency)


def test_sign_ins_beyond_the_queue_limit_get_503_with_retry_after(
    one_slot_client: TestClient, clean_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingHasher(hold=1)
    monkeypatch.setattr(passwords, "_hasher", counting)
    make_user(clean_db)
    one_slot_client.get("/login")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post_login, one_slot_client, "ann", PASSWORD)
        assert counting.entered.wait(timeout=30)  # the only slot is busy now
        second = post_login(one_slot_client, "ann", PASSWORD)
        counting.release.set()
        assert first.result().status_code == 303
    assert second.status_code == 503
    assert second.headers["retry-after"].isdigit()
    assert counting.calls == 1
