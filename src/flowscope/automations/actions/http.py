"""HTTP-ish actions: a request, a Slack-compatible webhook message, a ticket preset.

Every request carries `Idempotency-Key` (stable across retries and restarts) and
`X-Flowscope-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>` keyed with the
automation's signing secret.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from flowscope import __version__
from flowscope.automations.actions.base import EXCERPT, Context, Outcome, failed
from flowscope.automations.schemas import MASK
from flowscope.automations.templating import TemplateFailed, render

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def signature(key: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def send(
    ctx: Context,
    method: str,
    url: str,
    headers: list[tuple[str, str, bool]],  # name, value, secret
    body: str,
) -> Outcome:
    shown = {name: MASK if secret else value for name, value, secret in headers}
    request: dict[str, Any] = {"method": method, "url": url, "headers": shown, "body": body}
    if not url.startswith(("http://", "https://")):
        return failed(request, f"url: must start with http:// or https://, not {url[:80]!r}")
    payload = body.encode()
    now = int(time.time())
    sent = {name: value for name, value, _ in headers}
    sent.setdefault("Content-Type", "application/json")
    sent["User-Agent"] = f"Flowscope/{__version__}"
    sent["Idempotency-Key"] = ctx.idempotency_key
    sent["X-Flowscope-Signature"] = signature(ctx.signing_key, now, payload)
    timeout = ctx.settings.automation_timeout_seconds
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.request(method, url, content=payload or None, headers=sent)
    except httpx.TimeoutException:
        return failed(request, f"timed out after {timeout:g} s", retryable=True)
    except httpx.TransportError as exc:
        return failed(request, f"connection failed: {type(exc).__name__}: {exc}", retryable=True)
    except httpx.InvalidURL as exc:
        return failed(request, f"url: {exc}")
    excerpt = response.text[:EXCERPT]
    ok = response.status_code < 400
    return Outcome(
        ok=ok,
        request=request,
        status=response.status_code,
        excerpt=excerpt,
        result={"status": response.status_code, "body": excerpt},
        error=None if ok else f"the receiver answered {response.status_code}",
        retryable=response.status_code in RETRY_STATUS,
        retry_after=_retry_after(response.headers.get("retry-after")),
    )


def run_http(ctx: Context, action: dict[str, Any]) -> Outcome:
    try:
        url = render("url", action["url"], ctx.data)
        body = render("body", action["body"], ctx.data)
    except TemplateFailed as exc:
        return failed({"url": action["url"]}, str(exc))
    headers = [(h["name"], h["value"] or "", h["secret"]) for h in action["headers"]]
    return send(ctx, action["method"], url, headers, body)


def run_slack(ctx: Context, action: dict[str, Any]) -> Outcome:
    try:
        message = render("text", action["text"], ctx.data)
    except TemplateFailed as exc:
        return failed({"url": MASK}, str(exc))
    if not action["url"]:
        return failed({"url": None}, "url: no webhook URL is stored")
    outcome = send(ctx, "POST", action["url"], [], json.dumps({"text": message}))
    outcome.request["url"] = MASK  # the webhook URL is the secret
    return outcome


def ticket_body(action: dict[str, Any], summary: str, description: str) -> dict[str, Any]:
    if action["system"] == "servicenow":
        body: dict[str, Any] = {"short_description": summary, "description": description}
        if action["project"]:
            body["assignment_group"] = action["project"]
        return body
    return {
        "fields": {
            "project": {"key": action["project"]},
            "summary": summary,
            "description": description,
            "issuetype": {"name": action["issue_type"]},
        }
    }


def run_ticket(ctx: Context, action: dict[str, Any]) -> Outcome:
    try:
        url = render("url", action["url"], ctx.data)
        summary = render("summary", action["summary"], ctx.data)
        description = render("description", action["description"], ctx.data)
    except TemplateFailed as exc:
        return failed({"url": action["url"]}, str(exc))
    headers = [("Accept", "application/json", False)]
    if action["token"]:
        headers.append(("Authorization", f"Bearer {action['token']}", True))
    body = json.dumps(ticket_body(action, summary, description), ensure_ascii=False)
    return send(ctx, "POST", url, headers, body)
