"""Pieces on their own: the template sandbox, secrets at rest, backoff, the wiring."""

from __future__ import annotations

import json

import pytest

from flowscope.automations import secrets
from flowscope.automations.dispatcher import backoff, idempotency_key
from flowscope.automations.templating import TemplateFailed, render
from flowscope.automations.triggers import on_alert_transition
from flowscope.settings import Settings
from flowscope.wiring import ALERT_HOOKS, job_registry


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ alert.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ alert.update({'x': 1}) }}",  # the data is immutable to templates
        "{{ nothing }}",
    ],
)
def test_the_sandbox_refuses_escapes_and_unknown_names(escape: str) -> None:
    with pytest.raises(TemplateFailed) as caught:
        render("body", escape, {"alert": {"rule": {"name": "x"}}})
    assert caught.value.field == "body"


def test_tojson_writes_plain_json_for_any_string() -> None:
    hostile = 'a "quote", a <tag> & \\ backslash\nnew line'
    out = render("body", '{"text": {{ name | tojson }}}', {"name": hostile})
    assert json.loads(out) == {"text": hostile}


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}0123456789{% endfor %}",
        # 10 GB if rendered whole: stopped at the bound, in milliseconds
        "{% for i in range(100000) %}{% for j in range(100000) %}0123456789{% endfor %}"
        "{% endfor %}",
    ],
)
def test_a_template_cannot_render_without_bound(source: str) -> None:
    with pytest.raises(TemplateFailed, match="more than"):
        render("body", source, {})


def test_secrets_round_trip_and_another_key_cannot_read_them() -> None:
    key = "k" * 48
    token = secrets.encrypt(key, "hunter2")
    assert "hunter2" not in token
    assert secrets.decrypt(key, token) == "hunter2"
    with pytest.raises(secrets.SecretUnreadable, match="secret key"):
        secrets.decrypt("another" * 8, token)


def test_backoff_doubles_with_jitter_and_honours_retry_after_within_the_cap() -> None:
    settings = Settings(
        env="test", automation_backoff_seconds=1.0, automation_backoff_max_seconds=30.0
    )
    for attempt, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8)], start=1):
        assert low <= backoff(settings, attempt, None) <= high
    assert backoff(settings, 1, 20.0) == 20.0
    assert backoff(settings, 10, None) <= 30.0
    assert backoff(settings, 1, 3600.0) == 30.0


def test_idempotency_keys_are_stable_and_distinct() -> None:
    assert idempotency_key(1, 0) == idempotency_key(1, 0)
    assert len({idempotency_key(r, p) for r in range(20) for p in range(5)}) == 100


def test_the_wiring_hands_the_hook_to_the_evaluator_and_the_jobs_to_the_scheduler() -> None:
    assert on_alert_transition in ALERT_HOOKS
    ids = {job.id for job in job_registry().jobs}
    assert {"automations.dispatch", "automations.flow-scan"} <= ids
