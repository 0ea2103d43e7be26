"""Ingest while the database goes away and comes back, through a real TCP proxy."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.settings import Settings
from tests.conftest import PASSWORD, csrf_from
from tests.fixtures.events import INGEST_URL, count_events, make_event
from tests.fixtures.tcp_proxy import TcpProxy


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    url = make_url(database_url)
    socket_dir = url.query.get("host")  # the embedded server listens on a unix socket only
    if isinstance(socket_dir, str):
        upstream: tuple[str, int] | str = f"{socket_dir}/.s.PGSQL.{url.port or 5432}"
    else:
        upstream = (url.host or "127.0.0.1", url.port or 5432)
    with TcpProxy(upstream) as p:
        yield p


@pytest.fixture
def proxied_client(
    proxy: TcpProxy, database_url: str, settings: Settings, clean_db: Database
) -> Iterator[TestClient]:
    """An app that opens its own database, at a URL that goes through the proxy."""
    url = make_url(database_url).difference_update_query(["host"])
    url = url.set(host="127.0.0.1", port=proxy.port)
    app_settings = settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False), "pool_size": 2}
    )
    with TestClient(create_app(app_settings)) as client:
        yield client


def test_ingest_answers_503_while_the_database_is_down_and_recovers_by_itself(
    proxied_client: TestClient, proxy: TcpProxy, write_headers: dict[str, str], session: Session
) -> None:
    first = proxied_client.post(INGEST_URL, json=make_event(), headers=write_headers)
    assert first.status_code == 202

    proxy.cut()
    batch = [make_event(**{"event.id": "o-2"}), make_event(**{"event.id": "o-3"})]
    for _ in range(2):  # the pooled connection died, and new ones are refused
        down = proxied_client.post(INGEST_URL, json=batch, headers=write_headers)
        assert down.status_code == 503
        assert down.headers["retry-after"].isdigit()
        assert down.json()["error"]["code"] == "unavailable"
    assert proxied_client.get("/readyz").status_code == 503
    assert proxied_client.get("/healthz").status_code == 200  # the process itself is fine
    assert count_events(session) == 1

    proxy.restore()
    assert proxied_client.get("/readyz").status_code == 200
    again = proxied_client.post(INGEST_URL, json=batch, headers=write_headers)
    assert again.status_code == 202
    assert again.json() == {"accepted": 2, "duplicates": 0}
    assert count_events(session) == 3


def test_connection_dropped_under_a_pooled_session_is_replaced(
    proxied_client: TestClient, proxy: TcpProxy, write_headers: dict[str, str], session: Session
) -> None:
    """A brief blip (connections reset, server back at once) costs no failed request."""
    assert (
        proxied_client.post(INGEST_URL, json=make_event(), headers=write_headers).status_code == 202
    )
    proxy.cut()
    proxy.restore()
    retry = proxied_client.post(
        INGEST_URL, json=make_event(**{"event.id": "o-2"}), headers=write_headers
    )
    assert retry.status_code == 202
    assert count_events(session) == 2


def test_page_answers_an_error_page_with_retry_after_while_the_database_is_down(
    proxied_client: TestClient, proxy: TcpProxy, clean_db: Database
) -> None:
    with clean_db.sessions.begin() as s:
        auth_service.create_user(s, "ann", PASSWORD, Role.viewer)
    form = proxied_client.get("/login")
    data = {"username": "ann", "password": PASSWORD, "csrf_token": csrf_from(form.text)}
    assert proxied_client.post("/login", data=data).status_code == 200  # followed to /events

    proxy.cut()
    page = proxied_client.get("/events", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert page.headers["retry-after"].isdigit()
    assert "database is unavailable" in page.text
    assert "Traceback" not in page.text

    proxy.restore()
    assert proxied_client.get("/events", headers={"Accept": "text/html"}).status_code == 200


@pytest.fixture
def impatient_client(
    database_url: str, settings: Settings, clean_db: Database
) -> Iterator[TestClient]:
    """An app with one pooled connection that gives up waiting for a row lock after 300 ms."""
    url = make_url(database_url).update_query_dict({"options": "-c lock_timeout=300"})
    app_settings = settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False), "pool_size": 1}
    )
    with TestClient(create_app(app_settings)) as client:
        yield client


def test_ingest_works_again_after_the_first_transaction_on_a_connection_failed(
    impatient_client: TestClient,
    clean_db: Database,
    write_headers: dict[str, str],
    session: Session,
) -> None:
    # Another writer holds the row (shop.checkout, o-1) uncommitted: the app's insert of the
    # same event waits for it, times out, and its transaction is rolled back.
    with clean_db.engine.connect() as blocker:
        blocker.execute(
            text(
                'insert into events (provider, event_id, type, "timestamp", attributes) '
                "values ('shop.checkout', 'o-1', 't', now(), '{}')"
            )
        )
        stuck = impatient_client.post(INGEST_URL, json=make_event(), headers=write_headers)
        assert stuck.status_code == 503
        blocker.rollback()

    # The same pooled connection must still be able to ingest.
    for i in range(3):
        event = make_event(**{"event.id": f"after-{i}"})
        response = impatient_client.post(INGEST_URL, json=event, headers=write_headers)
        assert response.status_code == 202, response.text
    assert count_events(session) == 3


# --- a database that hangs: sockets stay open, nothing answers --------------------------------

DEADLINE = 2.0  # the app's db_timeout_seconds in these tests
PATIENCE = 15.0  # how long a test waits for an answer before it calls the request hung


def answered_within(seconds: float, call: Callable[[], Response]) -> Response:
    """`call()`'s response, failing the test (not hanging it) if none comes within `seconds`."""
    result: list[Response] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"no answer within {seconds} s: the request hangs while the database does"
    return result[0]


@pytest.fixture
def hang_client(
    proxy: TcpProxy, database_url: str, settings: Settings, clean_db: Database
) -> Iterator[TestClient]:
    """An app on the proxy that gives the database DEADLINE seconds to answer."""
    url = make_url(database_url).difference_update_query(["host"])
    url = url.set(host="127.0.0.1", port=proxy.port)
    app_settings = settings.model_copy(
        update={
            "database_url": url.render_as_string(hide_password=False),
            "pool_size": 2,
            "db_timeout_seconds": DEADLINE,
            "db_connect_timeout_seconds": 1,
        }
    )
    with TestClient(create_app(app_settings)) as client:
        yield client
        proxy.resume()  # let the abandoned threads finish before the app's pools are closed


def assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()


def test_ingest_and_readyz_answer_503_while_the_database_hangs_and_recover_by_themselves(
    hang_client: TestClient,
    proxy: TcpProxy,
    write_headers: dict[str, str],
    make_token: Callable[..., str],
    session: Session,
) -> None:
    assert hang_client.post(INGEST_URL, json=make_event(), headers=write_headers).status_code == 202
    assert hang_client.get("/readyz").status_code == 200
    big = [make_event(**{"event.id": f"big-{i}", "pad": "x" * 200}) for i in range(100)]
    unseen = {"Authorization": f"Api-Token {make_token('events:write', name='new')}"}

    proxy.pause()
    small = make_event(**{"event.id": "o-2"})
    for attempt in range(2):  # the second one finds the writer and the pool stuck
        response = answered_within(
            PATIENCE, lambda: hang_client.post(INGEST_URL, json=small, headers=write_headers)
        )
        assert_unavailable(response)
        assert "did not answer" in response.json()["error"]["message"], attempt
    # a big batch (stored from a thread) and a token not seen before (checked from a thread)
    assert_unavailable(
        answered_within(
            PATIENCE, lambda: hang_client.post(INGEST_URL, json=big, headers=write_headers)
        )
    )
    assert_unavailable(
        answered_within(PATIENCE, lambda: hang_client.post(INGEST_URL, json=small, headers=unseen))
    )
    for _ in range(3):  # probes keep coming during the outage
        ready = answered_within(PATIENCE, lambda: hang_client.get("/readyz"))
        assert_unavailable(ready)
        assert ready.json() == {"status": "unavailable", "reason": "Timeout"}
    assert hang_client.get("/healthz").status_code == 200

    proxy.resume()
    assert hang_client.get("/readyz").status_code == 200
    again = hang_client.post(
        INGEST_URL, json=make_event(**{"event.id": "o-3"}), headers=write_headers
    )
    assert again.status_code == 202, again.text
    assert hang_client.post(INGEST_URL, json=big, headers=unseen).status_code == 202
    # o-2's first statement was in flight when the database hung: it may have been stored
    # after all, and the client's retry (it got a 503) is then a duplicate
    retry = hang_client.post(INGEST_URL, json=small, headers=write_headers)
    assert retry.json()["accepted"] + retry.json()["duplicates"] == 1
    assert count_events(session) == 3 + len(big)
