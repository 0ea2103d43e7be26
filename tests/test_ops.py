"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.fixtures.events import INGEST_URL, make_event


def metric(client: TestClient, name: str, labels: str = "") -> float:
    """The current value of one sample on /metrics (0 when absent)."""
    text = client.get("/metrics").text
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_ready_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_metrics_count_accepted_duplicate_and_rejected_events(
    client: TestClient, write_headers: dict[str, str]
) -> None:
    before = {
        name: metric(client, name)
        for name in (
            "flowscope_events_accepted_total",
            "flowscope_events_duplicate_total",
            "flowscope_events_rejected_total",
        )
    }
    batch = [make_event(), make_event(), make_event(**{"event.id": "o-2", "event.type": ""})]
    assert client.post(INGEST_URL, json=batch, headers=write_headers).status_code == 400
    assert (
        metric(client, "flowscope_events_accepted_total")
        == before["flowscope_events_accepted_total"] + 1
    )
    assert (
        metric(client, "flowscope_events_duplicate_total")
        == before["flowscope_events_duplicate_total"] + 1
    )
    assert (
        metric(client, "flowscope_events_rejected_total")
        == before["flowscope_events_rejected_total"] + 1
    )


def test_metrics_time_requests_by_route_template(
    client: TestClient, write_headers: dict[str, str]
) -> None:
    client.post(INGEST_URL, json=make_event(), headers=write_headers)
    text = client.get("/metrics").text
    assert "text/plain" in client.get("/metrics").headers["content-type"]
    assert (
        'flowscope_http_request_duration_seconds_count{method="POST",'
        'route="/api/v2/bizevents/ingest",status="202"}'
    ) in text


def test_unknown_paths_are_counted_under_one_label(client: TestClient) -> None:
    client.get("/no/such/page/12345")
    text = client.get("/metrics").text
    assert "/no/such/page/12345" not in text
    assert 'route="unmatched",status="404"' in text


def test_openapi_schema_documents_the_ingest_route(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    operation = schema["paths"]["/api/v2/bizevents/ingest"]["post"]
    assert set(operation["requestBody"]["content"]) >= {
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/x-ndjson",
    }
    assert {"202", "400", "401", "403", "413", "415", "503"} <= set(operation["responses"])
