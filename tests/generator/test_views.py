"""The generator pages: viewers read, editors create, edit, run, enable and disable with CSRF."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from flowscope.auth.models import Role
from flowscope.dashboards.models import Dashboard
from flowscope.db import Database
from flowscope.generator import service, views
from flowscope.generator.models import Generator, GeneratorRun
from tests.conftest import csrf_from
from tests.generator.factories import make_generator

SignIn = Callable[..., TestClient]


def test_viewer_sees_generators_and_run_history_without_edit_buttons(
    sign_in: SignIn, session: Session
) -> None:
    make_generator(session)
    client = sign_in(Role.viewer)
    page = client.get("/generators")
    assert page.status_code == 200
    assert "Test orders" in page.text
    assert "test.orders.v001" in page.text
    assert "every 5m" in page.text
    assert "Run now" not in page.text
    assert "New generator" not in page.text
    detail = client.get("/generators/test-orders")
    assert detail.status_code == 200
    assert "Run history" in detail.text
    assert "No runs yet" in detail.text
    assert '/generators">Generators</a>' in client.get("/events").text  # the nav link


def test_viewer_cannot_run_or_open_the_form(sign_in: SignIn, session: Session) -> None:
    make_generator(session)
    client = sign_in(Role.viewer)
    token = csrf_from(client.get("/generators").text)
    response = client.post("/generators/test-orders/run", data={"csrf_token": token})
    assert response.status_code == 403
    assert client.get("/generators/new").status_code == 403
    assert session.scalar(select(func.count()).select_from(GeneratorRun)) == 0


def test_forms_need_the_csrf_token(sign_in: SignIn, session: Session) -> None:
    make_generator(session)
    client = sign_in(Role.editor)
    for action in ("run", "disable", "enable"):
        response = client.post(f"/generators/test-orders/{action}", data={})
        assert response.status_code == 403, action
    source = service.get_template("loan").source
    assert client.post("/generators/new", data={"source": source}).status_code == 403
    assert session.scalar(select(func.count()).select_from(GeneratorRun)) == 0
    assert session.scalar(select(func.count()).select_from(Generator)) == 1


def test_editor_creates_a_generator_from_a_template(sign_in: SignIn, session: Session) -> None:
    client = sign_in(Role.editor)
    form = client.get("/generators/new", params={"template": "power-outage"})
    assert form.status_code == 200
    assert "utility.outages.v001" in form.text
    fragment = client.get(
        "/generators/new",
        params={"template": "loan"},
        headers={"HX-Request": "true", "HX-Target": "editor"},
    )
    assert "bank.loans.v001" in fragment.text
    assert "<html" not in fragment.text
    source = service.get_template("power-outage").source
    response = client.post(
        "/generators/new",
        data={"source": source, "template": "power-outage", "csrf_token": csrf_from(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/generators/power-outage-ticket"
    generator = session.scalars(select(Generator)).one()
    assert generator.enabled
    assert generator.source == source
    assert generator.updated_by == "editor-user"


def test_invalid_yaml_is_shown_inline_and_nothing_is_saved(
    sign_in: SignIn, session: Session
) -> None:
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/generators/new").text)
    broken = service.get_template("retail").source.replace("percent: 4}", "percent: 140}")
    response = client.post("/generators/new", data={"source": broken, "csrf_token": token})
    assert response.status_code == 400
    assert "exceptions.0.percent" in response.text
    assert "less than or equal to 100" in response.text
    assert "percent: 140}" in response.text  # the editor's text is kept
    bad_syntax = client.post("/generators/new", data={"source": "a: [", "csrf_token": token})
    assert bad_syntax.status_code == 400
    assert "YAML line" in bad_syntax.text
    assert session.scalar(select(func.count()).select_from(Generator)) == 0


def test_editor_edits_the_yaml(sign_in: SignIn, session: Session) -> None:
    generator = make_generator(session)
    client = sign_in(Role.editor)
    form = client.get("/generators/test-orders/edit")
    assert form.status_code == 200
    token = csrf_from(form.text)
    changed = generator.source.replace("volume: 20", "volume: 35")
    response = client.post(
        "/generators/test-orders/edit",
        data={"source": changed, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    session.expire_all()
    assert session.scalars(select(Generator.config)).one()["volume"] == 35
    wrong = client.post(
        "/generators/test-orders/edit", data={"source": "name: x\n", "csrf_token": token}
    )
    assert wrong.status_code == 400
    assert "provider: Field required" in wrong.text


def test_run_now_runs_the_generator_and_records_the_run(sign_in: SignIn, session: Session) -> None:
    make_generator(session)
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/generators/test-orders").text)
    response = client.post(
        "/generators/test-orders/run", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    # TestClient runs background tasks before it returns.
    run = session.scalars(select(GeneratorRun)).one()
    assert run.trigger == "manual"
    assert run.error is None
    assert run.events_written > 0
    assert session.scalar(text("select count(*) from events")) == run.events_written
    page = client.get("/generators/test-orders")
    assert f"{run.events_written:,}" in page.text


def test_the_page_after_run_now_shows_the_run_before_it_begins(
    sign_in: SignIn, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run itself happens after the response; the page the redirect shows may come first.
    It must show the run as going on, and poll, not "No runs yet" for good (seen in Chromium
    on a loaded machine)."""
    make_generator(session)
    held: list[int] = []
    monkeypatch.setattr(
        views, "_run_in_background", lambda db, slug, run_id, hooks: held.append(run_id)
    )
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/generators/test-orders").text)
    page = client.post("/generators/test-orders/run", data={"csrf_token": token})
    assert page.status_code == 200
    assert "No runs yet" not in page.text
    assert 'aria-busy="true"' in page.text  # the run history polls until the run ends
    run = session.scalars(select(GeneratorRun)).one()
    assert held == [run.id]
    assert (run.trigger, run.finished_at) == ("manual", None)


def test_run_now_gives_the_created_flow_its_template_dashboard(
    sign_in: SignIn, session: Session
) -> None:
    """The app factory passes the flow-created hooks to "Run now" (no global registry)."""
    make_generator(session)
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/generators/test-orders").text)
    client.post("/generators/test-orders/run", data={"csrf_token": token})
    board = session.scalars(select(Dashboard)).one()
    assert board.flow_slug == "test-orders"
    assert board.updated_by == "generator"


class SyncProbe:
    """Stands in for the scheduler: records what a reconciliation would read at that moment."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen: list[bool | None] = []

    def request_sync(self) -> None:
        with self.db.sessions() as s:
            self.seen.append(s.scalar(select(Generator.enabled)))


def test_the_scheduler_is_woken_after_the_change_is_committed(
    sign_in: SignIn, session: Session, clean_db: Database
) -> None:
    make_generator(session)
    client = sign_in(Role.editor)
    probe = SyncProbe(clean_db)
    client.app.state.scheduler = probe  # type: ignore[attr-defined]
    token = csrf_from(client.get("/generators").text)
    client.post("/generators/test-orders/disable", data={"csrf_token": token})
    # woken once, from another connection, and it already sees the generator disabled
    assert probe.seen == [False]
    broken = client.post("/generators/new", data={"source": "a: [", "csrf_token": token})
    assert broken.status_code == 400
    assert probe.seen == [False]  # nothing saved, nothing to wake it for


def test_disable_and_enable(sign_in: SignIn, session: Session) -> None:
    make_generator(session)
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/generators").text)
    disabled = client.post(
        "/generators/test-orders/disable",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert disabled.status_code == 204
    assert disabled.headers["HX-Redirect"] == "/generators/test-orders"
    session.expire_all()
    assert session.scalars(select(Generator.enabled)).one() is False
    assert "disabled" in client.get("/generators").text
    client.post("/generators/test-orders/enable", data={"csrf_token": token})
    session.expire_all()
    assert session.scalars(select(Generator.enabled)).one() is True


def test_unknown_generator_is_a_404_page(sign_in: SignIn) -> None:
    client = sign_in(Role.viewer)
    response = client.get("/generators/nope", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "generator &#39;nope&#39; does not exist" in response.text


def test_htmx_form_posts_get_the_form_with_errors_swapped_in(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/generators/new").text)
    response = client.post(
        "/generators/new",
        data={"source": "name: x\n", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    # HTMX does not swap 4xx answers: the errors must come with a 200 to be seen.
    assert response.status_code == 200
    assert "The configuration was not saved" in response.text


def test_run_history_refreshes_itself_while_a_run_is_going_on(
    sign_in: SignIn, session: Session
) -> None:
    generator = make_generator(session)
    client = sign_in(Role.viewer)
    assert 'hx-trigger="every 2s"' not in client.get("/generators/test-orders").text
    interrupted = GeneratorRun(
        generator_id=generator.id,
        trigger="schedule",
        started_at=datetime.now(UTC) - timedelta(hours=2),
        events_written=0,
        pending_added=0,
    )
    session.add(interrupted)
    session.commit()
    assert 'hx-trigger="every 2s"' not in client.get("/generators/test-orders").text
    session.add(
        GeneratorRun(
            generator_id=generator.id,
            trigger="manual",
            started_at=datetime.now(UTC),
            events_written=0,
            pending_added=0,
        )
    )
    session.commit()
    page = client.get("/generators/test-orders")
    assert 'hx-trigger="every 2s"' in page.text
    assert "running…" in page.text
    fragment = client.get(
        "/generators/test-orders", headers={"HX-Request": "true", "HX-Target": "runs"}
    )
    assert fragment.text.lstrip().startswith('<section id="runs"')
    assert "<html" not in fragment.text
