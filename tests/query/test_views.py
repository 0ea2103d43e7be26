"""The notebook page: HTMX runs, inline errors, escaping, saved queries, share links."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flowscope.auth.models import Role
from flowscope.ingest.schemas import NewEvent
from tests.conftest import csrf_from
from tests.query.data import ingest

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def viewer(sign_in: Callable[..., TestClient]) -> TestClient:
    return sign_in(Role.viewer)


def htmx(client: TestClient) -> dict[str, str]:
    token = csrf_from(client.get("/query").text)
    return {"HX-Request": "true", "X-CSRF-Token": token}


def test_page_has_editor_timeframe_and_nav_link(viewer: TestClient) -> None:
    page = viewer.get("/query")
    assert page.status_code == 200
    assert 'id="query-text"' in page.text
    assert "vendor/codemirror/codemirror.css" in page.text
    assert 'list="timeframe-presets"' in page.text
    assert 'href="http://testserver/query">Query</a>' in page.text
    assert 'hx-trigger="submit"' in page.text  # nothing runs until asked


def test_page_needs_a_signed_in_user(client: TestClient) -> None:
    response = client.get("/query", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert "/login" in response.headers["location"]


def test_run_swaps_in_a_result_fragment(viewer: TestClient, session: Session) -> None:
    now = datetime.now(UTC)
    ingest(
        session,
        [NewEvent("shop", f"e{i}", "t", now - timedelta(minutes=i + 1), {}) for i in range(3)],
    )
    response = viewer.post(
        "/query/run",
        data={"query": "fetch bizevents | summarize n = count()", "from": "-1h", "to": ""},
        headers=htmx(viewer),
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="result"' in response.text
    assert 'id="row-count">1 row<' in response.text
    assert re.search(r'id="elapsed">[0-9.]+ ms<', response.text)
    assert 'class="value">3<' in response.text  # one number: shown as a single value
    share = urlparse(response.headers["HX-Replace-Url"])
    assert parse_qs(share.query) == {
        "q": ["fetch bizevents | summarize n = count()"],
        "from": ["-1h"],
    }


def test_errors_show_inline_with_line_column_and_caret(viewer: TestClient) -> None:
    response = viewer.post(
        "/query/run",
        data={"query": 'fetch bizevents\n| filter x == "open'},
        headers=htmx(viewer),
    )
    assert response.status_code == 200
    text = unescape(response.text)
    assert "Query error at line 2, column 15" in text
    assert 'data-line="2" data-column="15"' in text
    assert '| filter x == "open\n              ^' in text


def test_hostile_values_are_shown_as_text(viewer: TestClient, session: Session) -> None:
    now = datetime.now(UTC)
    ingest(
        session,
        [
            NewEvent(
                HOSTILE,
                "x",
                "<img src=x onerror=alert(2)>",
                now - timedelta(minutes=1),
                {HOSTILE: HOSTILE},
            )
        ],
    )
    headers = htmx(viewer)
    for query in (
        "fetch bizevents",
        "fetch bizevents | summarize n = count(), by: {event.provider}",  # bar chart data
        f'fetch bizevents | filter event.provider == "{HOSTILE}" | fields `{HOSTILE}`',
    ):
        response = viewer.post("/query/run", data={"query": query, "from": "-1h"}, headers=headers)
        assert response.status_code == 200
        assert "<script>alert" not in response.text
        assert "<img src=x" not in response.text
        assert (
            "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
            or "\\u003cscript" in response.text
        )


def test_chart_kind_follows_the_result_shape(viewer: TestClient, session: Session) -> None:
    now = datetime.now(UTC)
    ingest(
        session,
        [
            NewEvent("shop", f"e{i}", f"t{i % 2}", now - timedelta(minutes=i + 1), {})
            for i in range(4)
        ],
    )
    headers = htmx(viewer)
    bars = viewer.post(
        "/query/run",
        data={"query": "fetch bizevents | summarize n = count(), by: {event.type}", "from": "-1h"},
        headers=headers,
    )
    assert 'data-kind="categories"' in bars.text
    series = viewer.post(
        "/query/run",
        data={"query": "fetch bizevents | makeTimeseries n = count(), interval: 5m", "from": "-1h"},
        headers=headers,
    )
    assert 'data-kind="timeseries"' in series.text
    assert "interval 5m" in series.text


def test_saved_queries_are_per_user(viewer: TestClient, sign_in: Callable[..., TestClient]) -> None:
    query = "fetch bizevents | summarize count()"
    saved = viewer.post(
        "/query/saved",
        data={"name": "Daily count", "query": query, "from": "-7d"},
        headers=htmx(viewer),
    )
    assert saved.status_code == 200
    link = re.search(r'href="([^"]*saved=(\d+))">Daily count</a>', saved.text)
    assert link
    page = viewer.get(unescape(link.group(1)))
    assert ">fetch bizevents | summarize count()</textarea>" in page.text
    assert 'value="-7d"' in page.text
    assert 'hx-trigger="submit, load"' in page.text  # opening a saved query runs it

    again = viewer.post(
        "/query/saved",
        data={"name": "Daily count", "query": query + " // v2"},
        headers=htmx(viewer),
    )
    assert again.text.count("Daily count</a>") == 1  # same name: overwritten

    empty = viewer.post("/query/saved", data={"name": " ", "query": query}, headers=htmx(viewer))
    assert "give the query a name" in empty.text

    query_id = link.group(2)
    viewer.post("/logout", data={"csrf_token": csrf_from(viewer.get("/query").text)})
    other = sign_in(Role.editor, username="someone-else")
    assert other.get(f"/query?saved={query_id}").status_code == 404
    assert "Daily count" not in other.get("/query").text


def test_delete_a_saved_query(viewer: TestClient) -> None:
    saved = viewer.post(
        "/query/saved", data={"name": "Old", "query": "fetch bizevents"}, headers=htmx(viewer)
    )
    query_id = re.search(r"saved=(\d+)", saved.text)
    assert query_id
    deleted = viewer.post(f"/query/saved/{query_id.group(1)}/delete", headers=htmx(viewer))
    assert "Old</a>" not in deleted.text


def test_share_link_prefills_and_runs(viewer: TestClient) -> None:
    page = viewer.get("/query", params={"q": 'fetch bizevents | filter x == "<b>"', "from": "-1h"})
    assert "filter x == &#34;&lt;b&gt;&#34;</textarea>" in page.text
    assert 'hx-trigger="submit, load"' in page.text
    assert 'value="-1h"' in page.text


def test_form_works_without_javascript(viewer: TestClient) -> None:
    token = csrf_from(viewer.get("/query").text)
    response = viewer.post(
        "/query/run", data={"query": "fetch bizevents | summarize count()", "csrf_token": token}
    )
    assert response.status_code == 200
    assert "<html" in response.text
    assert 'id="row-count">1 row<' in response.text


def test_run_needs_the_csrf_token(viewer: TestClient) -> None:
    response = viewer.post("/query/run", data={"query": "fetch bizevents"})
    assert response.status_code == 403


def test_the_example_query_runs(viewer: TestClient) -> None:
    from flowscope.query.views import EXAMPLE

    response = viewer.post("/query/run", data={"query": EXAMPLE}, headers=htmx(viewer))
    assert 'id="row-count"' in response.text
    assert "FQL reference" in viewer.get("/query").text


def test_long_results_show_the_first_thousand_rows(viewer: TestClient, session: Session) -> None:
    now = datetime.now(UTC)
    ingest(
        session,
        [NewEvent("shop", f"e{i}", "t", now - timedelta(seconds=i + 1), {}) for i in range(1005)],
    )
    response = viewer.post(
        "/query/run", data={"query": "fetch bizevents", "from": "-1h"}, headers=htmx(viewer)
    )
    assert 'id="row-count">1,005 rows<' in response.text
    assert response.text.count("<tr>") == 1 + 1000
    assert "first 1,000 of 1,005 rows" in response.text


def test_a_timeframe_column_reads_as_text(viewer: TestClient, session: Session) -> None:
    ingest(session, [NewEvent("shop", "tf1", "t", datetime.now(UTC) - timedelta(minutes=3), {})])
    page = viewer.post(
        "/query/run",
        data={"query": "fetch bizevents | makeTimeseries n = count(), interval: 5m", "from": "-1h"},
        headers=htmx(viewer),
    )
    cells = unescape(page.text)
    assert '{"start"' not in cells
    assert re.search(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC – \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", cells
    )


def test_a_link_with_a_query_opens_the_notebook_prefilled_and_running(viewer: TestClient) -> None:
    page = viewer.get("/query", params={"q": 'fetch flows | filter flow == "x"', "from": "-2h"})
    assert 'fetch flows | filter flow == "x"</textarea>' in unescape(page.text)
    assert 'hx-trigger="submit, load"' in page.text
