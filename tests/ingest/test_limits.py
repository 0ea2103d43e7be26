"""Limits and hostile input: every refusal names the field and the reason and stores nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.db import Database
from flowscope.serving import uvicorn_options
from flowscope.settings import Settings, get_settings
from tests.fixtures.events import INGEST_URL as URL
from tests.fixtures.events import count_events, make_event, stored

LIMIT = 2_000


@pytest.fixture
def small_client(clean_db: Database, settings: Settings) -> Iterator[TestClient]:
    """An app that takes bodies of at most LIMIT bytes."""
    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT}), database=clean_db)
    with TestClient(app) as c:
        yield c


def big_batch() -> bytes:
    body = json.dumps([make_event(**{"event.id": f"e-{i}"}) for i in range(40)]).encode()
    assert len(body) > LIMIT
    return body


def test_body_over_the_limit_with_content_length_is_refused(
    small_client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    headers = {**write_headers, "Content-Type": "application/json"}
    response = small_client.post(URL, content=big_batch(), headers=headers)
    assert response.status_code == 413
    assert f"limit is {LIMIT} bytes" in response.json()["error"]["message"]
    assert count_events(session) == 0


def test_streamed_body_over_the_limit_without_content_length_is_refused(
    small_client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = big_batch()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    headers = {**write_headers, "Content-Type": "application/json"}
    response = small_client.post(URL, content=chunks(), headers=headers)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert f"over the limit of {LIMIT} bytes" in response.json()["error"]["message"]
    assert count_events(session) == 0


def test_streamed_body_under_the_limit_is_stored(
    small_client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = json.dumps(make_event()).encode()
    headers = {**write_headers, "Content-Type": "application/json"}
    response = small_client.post(URL, content=iter([body[:10], body[10:]]), headers=headers)
    assert response.status_code == 202
    assert count_events(session) == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_unsupported_content_type_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session, content_type: str | None
) -> None:
    headers = dict(write_headers)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(URL, content=json.dumps(make_event()).encode(), headers=headers)
    assert response.status_code == 415
    error = response.json()["error"]
    assert "application/json" in error["message"]
    assert "application/x-ndjson" in error["details"]["supported"]
    assert count_events(session) == 0


def raw_event(attributes: str) -> bytes:
    """A valid event with `attributes` spliced in as raw JSON text (`"key": value, ...`)."""
    return ('{"event.provider": "p", "event.type": "t", ' + attributes + "}").encode()


def nested(depth: int) -> Any:
    """A value whose JSON nesting is `depth` levels (1 = a scalar inside no container)."""
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_event_nested_32_levels_is_stored(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    # the event object is level 1, its attribute `deep` holds 31 more levels
    response = client.post(URL, json=make_event(deep=nested(31)), headers=write_headers)
    assert response.status_code == 202, response.text
    assert count_events(session) == 1


@pytest.mark.parametrize("depth", [32, 500, 5_000])
def test_nesting_deeper_than_32_levels_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session, depth: int
) -> None:
    # written by hand: the json module itself cannot encode 5,000 levels
    deep = '{"a": ' * depth + "1" + "}" * depth
    headers = {**write_headers, "Content-Type": "application/json"}
    response = client.post(URL, content=raw_event('"deep": ' + deep), headers=headers)
    assert response.status_code == 400
    body = response.json()
    message = body["errors"][0]["message"] if "errors" in body else body["error"]["message"]
    assert "deeper than 32 levels" in message
    assert count_events(session) == 0


@pytest.mark.parametrize(
    ("attributes", "field", "reason"),
    [
        ({"note": "a\u0000b"}, "note", "NUL"),
        ({"order": {"lines": [{"sku": "x\u0000"}]}}, "order.lines[0].sku", "NUL"),
        ({"bad\u0000key": 1}, "bad\u0000key", "NUL"),
        ({"event.provider": "shop\u0000"}, "event.provider", "NUL"),
        ({"event.id": "id\u0000"}, "event.id", "NUL"),
    ],
)
def test_nul_characters_are_refused_with_the_field(
    client: TestClient,
    write_headers: dict[str, str],
    session: Session,
    attributes: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    response = client.post(URL, json=make_event(**attributes), headers=write_headers)
    assert response.status_code == 400, response.text
    [problem] = response.json()["errors"]
    assert problem["field"] == field
    assert reason in problem["message"]
    assert count_events(session) == 0


@pytest.mark.parametrize(
    ("raw_value", "field"),
    [
        (r'"\ud800"', "note"),
        (r'"x\udfffy"', "note"),
        (r'{"inner": ["\uDBFF"]}', "note.inner[0]"),
    ],
)
def test_lone_surrogates_are_refused_with_the_field(
    client: TestClient,
    write_headers: dict[str, str],
    session: Session,
    raw_value: str,
    field: str,
) -> None:
    headers = {**write_headers, "Content-Type": "application/json"}
    response = client.post(URL, content=raw_event('"note": ' + raw_value), headers=headers)
    assert response.status_code == 400, response.text
    [problem] = response.json()["errors"]
    assert problem["field"] == field
    assert "surrogate" in problem["message"]
    assert count_events(session) == 0


def test_surrogate_pair_is_stored_as_the_character(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = r'{"event.provider": "p", "event.type": "t", "emoji": "\ud83d\ude00"}'
    headers = {**write_headers, "Content-Type": "application/json"}
    assert client.post(URL, content=body.encode(), headers=headers).status_code == 202
    assert stored(session)[0]["attributes"] == {"emoji": "\U0001f600"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_numbers_are_refused(
    client: TestClient, write_headers: dict[str, str], session: Session, literal: str
) -> None:
    headers = {**write_headers, "Content-Type": "application/json"}
    response = client.post(URL, content=raw_event('"amount": ' + literal), headers=headers)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert literal.lstrip("-") in message
    assert count_events(session) == 0


@pytest.mark.parametrize(
    "number",
    [
        123456789012345678901234567890,
        -123456789012345678901234567890,
        18446744073709551616,  # 2**64
        -9223372036854775809,  # one below the smallest 64-bit integer
    ],
)
def test_integers_beyond_64_bits_are_stored_exactly(
    client: TestClient, write_headers: dict[str, str], session: Session, number: int
) -> None:
    body = raw_event(f'"big": {number}, "in": [{number}]')
    headers = {**write_headers, "Content-Type": "application/json"}
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert stored(session)[0]["attributes"] == {"big": number, "in": [number]}


def test_integer_beyond_64_bits_in_ndjson_is_stored_exactly(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    number = 2**70
    body = raw_event(f'"big": {number}') + b"\n"
    headers = {**write_headers, "Content-Type": "application/x-ndjson"}
    assert client.post(URL, content=body, headers=headers).status_code == 202
    assert stored(session)[0]["attributes"] == {"big": number}


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"event.provider": True}, "event.provider", "not a boolean"),
        ({"event.type": False}, "event.type", "not a boolean"),
        ({"event.id": True}, "event.id", "not a boolean"),
        ({"event.provider": ["a"]}, "event.provider", "not an array"),
        ({"event.type": {"x": 1}}, "event.type", "not an object"),
        ({"event.provider": ""}, "event.provider", "must not be empty"),
        ({"event.type": "   "}, "event.type", "must not be empty"),
        ({"event.provider": "p" * 257}, "event.provider", "at most 256 characters"),
        ({"event.type": "t" * 1000}, "event.type", "at most 256 characters"),
        ({"event.id": "i" * 257}, "event.id", "at most 256 characters"),
        ({"event.provider": None}, "event.provider", "is required"),
    ],
)
def test_bad_names_are_refused_with_field_and_reason(
    client: TestClient,
    write_headers: dict[str, str],
    session: Session,
    overrides: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    response = client.post(URL, json=make_event(**overrides), headers=write_headers)
    assert response.status_code == 400, response.text
    [problem] = response.json()["errors"]
    assert (problem["field"], problem["index"]) == (field, 0)
    assert reason in problem["message"]
    assert count_events(session) == 0


def test_names_of_256_characters_are_stored(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    event = make_event(
        **{"event.provider": "p" * 256, "event.type": "t" * 256, "event.id": "é" * 256}
    )
    assert client.post(URL, json=event, headers=write_headers).status_code == 202
    [row] = stored(session)
    assert (len(row["provider"]), len(row["type"]), row["event_id"]) == (256, 256, "é" * 256)


def test_markup_is_stored_verbatim(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    markup = "<img src=x onerror=alert(1)>"
    event = make_event(**{"event.type": markup, "event.id": markup, "comment": markup})
    assert client.post(URL, json=event, headers=write_headers).status_code == 202
    [row] = stored(session)
    assert row["type"] == row["event_id"] == markup
    assert row["attributes"] == {"comment": markup}


def test_unicode_and_control_characters_other_than_nul_are_kept(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    text = "Zürich \u200b tab\t line\n bell\u0007 日本"
    assert client.post(URL, json=make_event(note=text), headers=write_headers).status_code == 202
    assert stored(session)[0]["attributes"] == {"note": text}


def test_invalid_utf8_body_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = b'{"event.provider": "p", "event.type": "t", "x": "\xff\xfe"}'
    headers = {**write_headers, "Content-Type": "application/json"}
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]["message"]
    assert count_events(session) == 0


def test_too_many_events_in_one_request_are_refused(
    clean_db: Database, settings: Settings, write_headers: dict[str, str], session: Session
) -> None:
    app = create_app(settings.model_copy(update={"max_events_per_request": 3}), database=clean_db)
    with TestClient(app) as c:
        batch = [make_event(**{"event.id": f"e-{i}"}) for i in range(4)]
        response = c.post(URL, json=batch, headers=write_headers)
    assert response.status_code == 400
    assert "at most 3 events" in response.json()["error"]["message"]
    assert count_events(session) == 0


# --- a real server: what reaches uvicorn before the app ---------------------------------------

PATIENCE = 15.0  # socket timeout: longer than any limit below, so a hang fails the test


@pytest.fixture
def served(
    clean_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[int]:
    """The app under uvicorn with `serve`'s options and 1 s header and body timeouts."""
    monkeypatch.setenv("FLOWSCOPE_HEADER_TIMEOUT_SECONDS", "1")  # read by each connection
    get_settings.cache_clear()
    app_settings = settings.model_copy(update={"body_timeout_seconds": 1.0})
    app = create_app(app_settings, database=clean_db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(app_settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield port
    server.should_exit = True
    thread.join(timeout=10)
    get_settings.cache_clear()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def post_head(token: str, length: int) -> bytes:
    return (
        f"POST {URL} HTTP/1.1\r\nHost: test\r\nAuthorization: Api-Token {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one response (socket.timeout if the server never answers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), json.loads(body)


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize(
    ("scopes", "status"), [(None, 401), (("events:read",), 403)], ids=["unknown", "no-scope"]
)
def test_token_is_refused_before_the_body_arrives(
    served: int, make_token: Callable[..., str], scopes: tuple[str, ...] | None, status: int
) -> None:
    token = make_token(*scopes) if scopes else "bogus-token"
    with connect(served) as sock:
        sock.sendall(post_head(token, 4_900_000) + b"[" + b" " * 1000)  # and no more
        assert read_answer(sock)[0] == status
        assert closed_by_server(sock)  # end of stream after the answer: nothing to wait for


def test_client_that_keeps_sending_after_a_refusal_is_disconnected(served: int) -> None:
    with connect(served) as sock:
        sock.sendall(post_head("bogus-token", 4_900_000))
        assert read_answer(sock)[0] == 401
        with pytest.raises((BrokenPipeError, ConnectionResetError)):  # noqa: PT012
            for _ in range(4_900_000 // 65536):
                sock.sendall(b" " * 65536)
                time.sleep(0.05)  # ~1.3 MB/s: the whole body would take ~4 s


def test_body_that_stalls_is_cut_with_408(
    served: int, write_headers: dict[str, str], session: Session
) -> None:
    token = write_headers["Authorization"].split()[1]
    with connect(served) as sock:
        sock.sendall(post_head(token, 10_000) + b'[{"event.provider": "p"')
        status, body = read_answer(sock)
        assert status == 408
        assert body["error"]["code"] == "request_timeout"
        assert body["error"]["message"].startswith("body: not received within 1 s")
        assert closed_by_server(sock)
    assert count_events(session) == 0


@pytest.mark.parametrize("sent", [b"", b"POST /api/v2/bizevents/ingest HTTP/1.1\r\nHost: t"])
def test_connection_without_complete_headers_is_closed(served: int, sent: bytes) -> None:
    with connect(served) as sock:
        sock.sendall(sent)
        assert closed_by_server(sock)


def test_headers_over_64_kib_are_refused(served: int) -> None:
    with connect(served) as sock:
        pad = "x" * 70_000
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: {pad}\r\n\r\n".encode())
        data = sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 400 "), data[:100]
