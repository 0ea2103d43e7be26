"""At-least-once delivery: a dispatcher SIGKILLed mid-send loses no notification.

The dispatcher runs as a subprocess against the test database and sends to a receiver that
takes a second to answer. It is killed while a request is in flight (the receiver has it, the
dispatcher never learns the answer), then started again: every run must be delivered, the one
in flight again with the same Idempotency-Key, and every run must end succeeded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flowscope.automations.dispatcher import idempotency_key
from flowscope.automations.models import AutomationRun, OutboxEntry
from flowscope.automations.triggers import run_now
from flowscope.db import Database
from flowscope.settings import Settings
from tests.automations.conftest import get, make_automation
from tests.automations.receivers import Recorder, Reply

RUNS = 6
ROOT = Path(__file__).resolve().parents[2]


def start(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tests.automations.dispatcher_process", database_url]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=out)


def wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError(what)


@pytest.mark.slow
def test_sigkill_mid_dispatch_resends_and_loses_nothing(
    clean_db: Database,
    database_url: str,
    settings: Settings,
    receiver: Recorder,
    tmp_path: Path,
) -> None:
    automation_id, _ = make_automation(
        clean_db,
        settings,
        {
            "name": "Slow receiver",
            "trigger": {"type": "manual"},
            "actions": [{"type": "http", "url": receiver.url + "/slow", "body": "{{ run.id }}"}],
        },
    )
    receiver.default = Reply(200, b"ok", delay=1.0)
    with clean_db.sessions.begin() as session:
        run_ids = [run_now(session, get(session, automation_id)).id for _ in range(RUNS)]
        session.flush()
    log = tmp_path / "dispatcher.log"

    first = start(database_url, log)
    try:
        wait(lambda: len(receiver.at("/slow")) >= 3, 30, "the dispatcher sent nothing")
        first.send_signal(signal.SIGKILL)  # the third request is in flight (1 s delay)
        first.wait(10)
        in_flight = receiver.at("/slow")[-1].headers["Idempotency-Key"]
    finally:
        if first.poll() is None:
            first.kill()
    second = start(database_url, log)
    try:

        def drained() -> bool:
            with clean_db.sessions() as session:
                return not session.scalar(select(func.count()).select_from(OutboxEntry))

        wait(drained, 60, f"the outbox did not drain: {log.read_text()[-2000:]}")
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(10)

    keys = [r.headers["Idempotency-Key"] for r in receiver.at("/slow")]
    expected = {idempotency_key(run_id, 0) for run_id in run_ids}
    assert set(keys) == expected  # every notification delivered, none invented
    assert keys.count(in_flight) == 2  # the interrupted one was sent again, same key
    bodies = {r.headers["Idempotency-Key"]: r.body for r in receiver.at("/slow")}
    assert bodies == {idempotency_key(i, 0): str(i).encode() for i in run_ids}
    with clean_db.sessions() as session:
        statuses = session.scalars(select(AutomationRun.status)).all()
    assert statuses == ["succeeded"] * RUNS
