"""Every response carries the security headers; no template relies on inline script."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from flowscope.auth.models import Role
from flowscope.paths import resource_dir


def directives(response_csp: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in response_csp.split(";"))
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


@pytest.mark.parametrize(
    "path", ["/login", "/healthz", "/api/v1/flows", "/static/css/flowscope.css", "/nowhere"]
)
def test_every_response_has_csp_and_no_framing(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    csp = directives(response.headers["content-security-policy"])
    assert csp["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"


def test_signed_in_pages_have_the_headers_too(sign_in: Callable[..., TestClient]) -> None:
    client = sign_in(Role.admin)
    for path in ("/", "/query", "/dashboards", "/flows/manage", "/generators", "/events"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self';" in response.headers["content-security-policy"], path
        assert '<meta name="htmx-config" content=\'{"allowEval": false}\'>' in response.text


def test_api_docs_keep_every_header_but_the_script_policy(client: TestClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert "script-src" not in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
HANDLER = re.compile(r"""\s(on[a-z]+|hx-on[:-][^=\s]*)\s*=\s*["']""", re.IGNORECASE)


def test_no_template_has_inline_script_or_event_handler_attributes() -> None:
    """The CSP blocks them: they would silently stop working in the browser."""
    found = []
    for template in sorted(resource_dir("templates").rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        found += [f"{template.name}: {m.group(0)}" for m in INLINE_SCRIPT.finditer(text)]
        found += [f"{template.name}: {m.group(1)}" for m in HANDLER.finditer(text)]
        if "javascript:" in text:
            found.append(f"{template.name}: javascript: URL")
    assert found == []


def test_metrics_are_open_by_default(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200


def test_metrics_token_when_set_is_required(client: TestClient) -> None:
    client.app.state.settings.metrics_token = "scrape-secret"  # type: ignore[attr-defined]
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "FLOWSCOPE_METRICS_TOKEN" in wrong.json()["error"]["message"]
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert right.status_code == 200
    assert b"flowscope_http_request_duration_seconds" in right.content
