"""Delivery: an alert transition through the hook, the outbox and the dispatcher to real
receivers; retries, idempotency keys, signatures, Slack and e-mail shapes, `when:` chains."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from flowscope.alerts.transitions import AlertSample, AlertTransition
from flowscope.automations.dispatcher import dispatch
from flowscope.automations.models import AutomationRun, AutomationRunStep, OutboxEntry
from flowscope.automations.triggers import on_alert_transition, run_now
from flowscope.db import Database
from flowscope.settings import Settings
from tests.automations.conftest import get, make_automation
from tests.automations.receivers import Mailbox, Recorder, Reply, verify_signature


def transition(change: str = "opened", rule_id: int = 7, **extra: object) -> AlertTransition:
    now = datetime.now(UTC)
    return AlertTransition(
        change=change,  # type: ignore[arg-type]
        alert_id=42,
        rule_id=rule_id,
        rule_name="Exceptions up",
        severity="critical",
        at=now,
        started_at=now,
        flow="retail-orders",
        kpi="exceptions",
        threshold="above 10",
        samples=(AlertSample(now, 14.0, True),),
        **extra,  # type: ignore[arg-type]
    )


def steps_of(db: Database, automation_id: int) -> list[AutomationRunStep]:
    with db.sessions() as session:
        return list(
            session.scalars(
                select(AutomationRunStep)
                .join(AutomationRun)
                .where(AutomationRun.automation_id == automation_id)
                .order_by(AutomationRunStep.run_id, AutomationRunStep.position)
            )
        )


def drain(db: Database, settings: Settings, until_empty: float = 10.0) -> None:
    """Dispatch until the outbox is empty (retries become due after their backoff)."""
    import time

    deadline = time.monotonic() + until_empty
    while time.monotonic() < deadline:
        dispatch(db, settings, budget_seconds=2)
        with db.sessions() as session:
            if not session.scalar(select(func.count()).select_from(OutboxEntry)):
                return
        time.sleep(0.05)
    raise AssertionError("the outbox did not drain")


def test_alert_transition_is_delivered_signed_with_a_stable_key_after_503s(
    clean_db: Database, fast_settings: Settings, receiver: Recorder
) -> None:
    automation_id, key = make_automation(
        clean_db,
        fast_settings,
        {
            "name": "Notify",
            "trigger": {"type": "alert", "rules": [7], "on": ["opened"]},
            "actions": [
                {
                    "type": "http",
                    "url": receiver.url + "/hook",
                    "headers": [
                        {"name": "X-Team", "value": "ops"},
                        {"name": "Authorization", "value": "Bearer s3cret", "secret": True},
                    ],
                    "body": '{"rule": {{ alert.rule.name | tojson }}, "value": '
                    "{{ alert.samples[0].value }}}",
                }
            ],
        },
    )
    receiver.answer(
        "/hook", Reply(503), Reply(503, headers={"Retry-After": "0"}), Reply(200, b"done")
    )
    with clean_db.sessions.begin() as session:
        on_alert_transition(session, transition())
        on_alert_transition(session, transition(rule_id=8))  # another rule: not this one
        on_alert_transition(session, transition(change="resolved"))  # not subscribed
    drain(clean_db, fast_settings)

    hits = receiver.at("/hook")
    assert len(hits) == 3
    assert {h.headers["Idempotency-Key"] for h in hits} == {hits[0].headers["Idempotency-Key"]}
    for hit in hits:
        assert json.loads(hit.body) == {"rule": "Exceptions up", "value": 14.0}
        assert verify_signature(key, hit.headers["X-Flowscope-Signature"], hit.body)
        assert not verify_signature("another key", hit.headers["X-Flowscope-Signature"], hit.body)
        assert hit.headers["Authorization"] == "Bearer s3cret"
        assert hit.headers["X-Team"] == "ops"
    [step] = steps_of(clean_db, automation_id)
    assert (step.status, step.attempts, step.response_status) == ("succeeded", 3, 200)
    assert [a["status"] for a in step.attempt_log] == [503, 503, 200]
    assert step.request is not None
    assert step.request["headers"]["Authorization"] == "••• set"  # never the secret
    assert "s3cret" not in json.dumps(step.request)


def test_a_receiver_that_keeps_failing_fails_the_step_after_max_attempts(
    clean_db: Database, fast_settings: Settings, receiver: Recorder
) -> None:
    settings = fast_settings.model_copy(update={"automation_max_attempts": 3})
    automation_id, _ = make_automation(
        clean_db,
        settings,
        {
            "name": "Down",
            "trigger": {"type": "manual"},
            "actions": [
                {"type": "http", "url": receiver.url + "/down"},
                {"type": "http", "url": receiver.url + "/after-failure", "when": "failed"},
                {"type": "http", "url": receiver.url + "/after-success"},
                {"type": "http", "url": receiver.url + "/always", "when": "always"},
            ],
        },
    )
    receiver.answer("/down", *[Reply(500)] * 5)
    receiver.answer("/after-failure", Reply(400, b"bad request"))  # 4xx: not retried
    with clean_db.sessions.begin() as session:
        run_now(session, get(session, automation_id))
    drain(clean_db, settings)
    assert len(receiver.at("/down")) == 3
    assert len(receiver.at("/after-failure")) == 1
    assert receiver.at("/after-success") == []  # the previous action that ran failed
    assert len(receiver.at("/always")) == 1
    statuses = [(s.status, s.attempts) for s in steps_of(clean_db, automation_id)]
    assert statuses == [("failed", 3), ("failed", 1), ("skipped", 0), ("succeeded", 1)]
    with clean_db.sessions() as session:
        assert session.scalar(select(AutomationRun.status)) == "failed"


def test_slack_message_shape_and_email_through_smtp(
    clean_db: Database,
    fast_settings: Settings,
    receiver: Recorder,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    settings = fast_settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
    )
    automation_id, _ = make_automation(
        clean_db,
        settings,
        {
            "name": "Tell people",
            "trigger": {"type": "alert"},
            "actions": [
                {
                    "type": "slack",
                    "url": receiver.url + "/services/T000/B000/XXXX",
                    "text": ":rotating_light: {{ alert.rule.name }} {{ alert.change }}",
                },
                {
                    "type": "email",
                    "to": ["ops@example.com", "lead@example.com"],
                    "subject": "[{{ alert.severity }}] {{ alert.rule.name }}",
                    "body": "Threshold {{ alert.threshold }}; see {{ alert.url }}",
                },
            ],
        },
    )
    with clean_db.sessions.begin() as session:
        on_alert_transition(session, transition(url="/alerts/42"))
    drain(clean_db, settings)
    [slack] = receiver.at("/services/T000/B000/XXXX")
    assert json.loads(slack.body) == {"text": ":rotating_light: Exceptions up opened"}
    assert slack.headers["Content-Type"] == "application/json"
    [mail] = mailbox.messages
    assert mail["Subject"] == "[critical] Exceptions up"
    assert mail["To"] == "ops@example.com, lead@example.com"
    assert "Threshold above 10; see /alerts/42" in mail.get_payload()
    assert mail["Message-ID"].startswith("<")
    assert mail["Idempotency-Key"]
    steps = steps_of(clean_db, automation_id)
    assert [s.status for s in steps] == ["succeeded", "succeeded"]
    assert steps[0].request is not None
    assert steps[0].request["url"] == "••• set"


def test_email_without_smtp_settings_fails_with_the_reason(
    clean_db: Database, fast_settings: Settings
) -> None:
    automation_id, _ = make_automation(
        clean_db,
        fast_settings,
        {
            "name": "Mail",
            "trigger": {"type": "manual"},
            "actions": [{"type": "email", "to": ["a@example.com"], "subject": "s", "body": "b"}],
        },
    )
    with clean_db.sessions.begin() as session:
        run_now(session, get(session, automation_id))
    drain(clean_db, fast_settings)
    [step] = steps_of(clean_db, automation_id)
    assert step.status == "failed"
    assert step.error is not None
    assert "FLOWSCOPE_SMTP_HOST" in step.error


def test_ticket_preset_is_shaped_for_jira(
    clean_db: Database, fast_settings: Settings, receiver: Recorder
) -> None:
    make_automation(
        clean_db,
        fast_settings,
        {
            "name": "Ticket",
            "trigger": {"type": "alert"},
            "actions": [
                {
                    "type": "ticket",
                    "url": receiver.url + "/rest/api/2/issue",
                    "token": "jira-token",
                    "project": "OPS",
                    "issue_type": "Incident",
                    "summary": "{{ alert.rule.name }} on {{ alert.flow }}",
                    "description": "Opened at {{ alert.at }}",
                }
            ],
        },
    )
    receiver.answer("/rest/api/2/issue", Reply(201, b'{"key": "OPS-1"}'))
    with clean_db.sessions.begin() as session:
        on_alert_transition(session, transition())
    drain(clean_db, fast_settings)
    [hit] = receiver.at("/rest/api/2/issue")
    body = json.loads(hit.body)
    assert body["fields"]["project"] == {"key": "OPS"}
    assert body["fields"]["summary"] == "Exceptions up on retail-orders"
    assert body["fields"]["issuetype"] == {"name": "Incident"}
    assert hit.headers["Authorization"] == "Bearer jira-token"


def test_a_template_error_fails_the_action_with_its_message(
    clean_db: Database, fast_settings: Settings, receiver: Recorder
) -> None:
    automation_id, _ = make_automation(
        clean_db,
        fast_settings,
        {
            "name": "Broken",
            "trigger": {"type": "manual"},
            "actions": [
                {"type": "http", "url": receiver.url + "/x", "body": "{{ ''.__class__ }}"},
                {"type": "http", "url": receiver.url + "/y", "body": "{{ nothing.here }}"},
            ],
        },
    )
    with clean_db.sessions.begin() as session:
        run_now(session, get(session, automation_id))
    drain(clean_db, fast_settings)
    first, second = steps_of(clean_db, automation_id)
    assert first.status == "failed"
    assert first.error is not None
    assert "__class__" in first.error
    assert "unsafe" in first.error.lower()
    assert second.status == "skipped"
    assert receiver.received == []
