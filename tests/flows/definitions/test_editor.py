"""The flow editor pages through the app: roles, CSRF, the form, preview, YAML, suggestions."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.errors import FlowscopeError
from flowscope.flows.correlation.correlator import correlate
from flowscope.flows.definitions import preview, service
from flowscope.flows.definitions.yaml_io import to_yaml
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.conftest import csrf_from
from tests.flows.editor_support import form_fields
from tests.flows.factories import definition

SignIn = Callable[..., TestClient]


def _events(db: Database, rows: list[tuple[str, str, str, dict[str, object], int]]) -> None:
    """(provider, event id, type, attributes, days ago) stored now."""
    now = datetime.now(UTC)
    with db.sessions.begin() as s:
        store_events(s, [NewEvent(p, i, t, now - timedelta(days=d), a) for p, i, t, a, d in rows])


def _orders(db: Database) -> None:
    rows = []
    for n in range(3):
        rows.append(("shop", f"p{n}", "order.placed", {"order": {"id": f"o{n}"}}, 1))
        rows.append(("shop", f"c{n}", "payment.captured", {"order": {"id": f"o{n}"}}, 1))
    rows.append(("shop", "s0", "parcel.shipped", {"order": {"id": "o0"}}, 1))
    rows.append(
        ("shop", "old", "order.placed", {"order": {"id": "ancient"}}, 60)
    )  # outside 30 days
    rows.append(("shop", "anon", "order.placed", {"customer": "x"}, 2))  # no order id
    _events(db, rows)


def _form(client: TestClient, **fields: str) -> dict[str, str]:
    base = {
        "csrf_token": csrf_from(client.get("/flows/manage/new").text),
        "expected_version": "0",
        "slug": "orders",
        "name": "Orders",
        "providers": "shop",
        "correlation": "order.id",
        "timeouts-stall": "1h",
        "timeouts-drop": "1d",
        "steps-0-key": "placed",
        "steps-0-name": "Placed",
        "steps-0-events-0-type": "order.placed",
        "steps-1-key": "paid",
        "steps-1-name": "Paid",
        "steps-1-events-0-type": "payment.captured",
        "steps-2-key": "shipped",
        "steps-2-name": "Shipped",
        "steps-2-events-0-type": "parcel.shipped",
    }
    return {**base, **fields}


def _step_keys(html: str) -> list[str]:
    return re.findall(r'class="step[^"]*" id="step-\d+" data-key="([^"]*)"', html)


def test_viewer_gets_403_and_anonymous_goes_to_login(client: TestClient, sign_in: SignIn) -> None:
    response = client.get("/flows/manage", follow_redirects=False, headers={"accept": "text/html"})
    assert response.status_code == 303
    assert "/login" in response.headers["location"]
    sign_in(Role.viewer)
    for url in ("/flows/manage", "/flows/manage/new", "/flows/manage/suggest"):
        assert client.get(url, headers={"accept": "text/html"}).status_code == 403
    token = csrf_from(client.get("/login").text)
    for url in ("/flows/manage/save", "/flows/manage/preview", "/flows/manage/upload"):
        refused = client.post(url, data={"csrf_token": token}, headers={"accept": "text/html"})
        assert refused.status_code == 403
        assert "this needs the editor role" in refused.text


def test_editor_sees_the_list_and_the_nav_link(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    page = client.get("/flows/manage")
    assert page.status_code == 200
    assert "Edit flows" in page.text
    assert "No flows yet" in page.text


def test_a_post_without_the_csrf_token_is_refused(sign_in: SignIn, session: Session) -> None:
    client = sign_in(Role.editor)
    data = _form(client)
    del data["csrf_token"]
    response = client.post("/flows/manage/save", data=data, headers={"accept": "text/html"})
    assert response.status_code == 403
    assert service.list_flows(session) == []


def test_create_via_form_stores_version_1_and_redirects(sign_in: SignIn, session: Session) -> None:
    client = sign_in(Role.editor)
    data = _form(
        client,
        **{
            "steps-1-exceptions-0-name": "declined",
            "steps-1-exceptions-0-field": "amount",
            "steps-1-exceptions-0-op": "gt",
            "steps-1-exceptions-0-value": "1000",
            "steps-0-properties-0-name": "tier",
            "steps-0-properties-0-path": "customer.tier",
            "revenue-field": "order.total",
            "revenue-step": "placed",
            "revenue-aggregate": "sum",
            "steps-2-optional": "true",
        },
    )
    response = client.post("/flows/manage/save", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    flow = service.get_flow(session, "orders")
    saved = service.definition_of(flow)
    assert (flow.version, flow.updated_by) == (1, "editor-user")
    assert [s.key for s in saved.steps] == ["placed", "paid", "shipped"]
    assert saved.steps[1].exceptions[0].value == 1000
    assert saved.steps[2].optional
    assert saved.revenue is not None
    assert saved.revenue.step == "placed"
    listing = client.get(response.headers["location"]).text
    assert "Orders: saved as version 1" in listing


def test_reorder_and_remove_steps_in_place(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    data = _form(client, op="up:2")
    fragment = client.post("/flows/manage/draft", data=data, headers={"hx-request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section class="card" id="steps"')
    assert _step_keys(fragment.text) == ["placed", "shipped", "paid"]
    down = client.post("/flows/manage/draft", data=_form(client, op="down:0"))
    assert _step_keys(down.text) == ["paid", "placed", "shipped"]
    removed = client.post("/flows/manage/draft", data=_form(client, op="remove:1"))
    assert _step_keys(removed.text) == ["placed", "shipped"]
    added = client.post("/flows/manage/draft", data=_form(client, op="add"))
    assert _step_keys(added.text) == ["placed", "paid", "shipped", ""]


def test_validation_errors_are_shown_next_to_their_fields(
    sign_in: SignIn, session: Session
) -> None:
    client = sign_in(Role.editor)
    data = _form(
        client,
        **{"slug": "Bad Slug", "steps-1-key": "placed", "steps-2-timeouts-stall": "soon"},
    )
    del data["steps-2-name"]
    response = client.post("/flows/manage/save", data=data)
    assert response.status_code == 400
    html = response.text
    assert 'id="err-slug">&#39;Bad Slug&#39; is not a slug' in html
    assert 'id="err-steps-2-name">is required' in html
    assert 'id="err-steps-2-timeouts-stall">&#39;soon&#39; is not a duration' in html
    assert 'name="slug" value="Bad Slug" placeholder="online-orders" aria-invalid="true"' in html
    assert service.list_flows(session) == []
    # A flow-wide rule (a key used twice) is listed at the top with its path.
    dup = client.post("/flows/manage/save", data=_form(client, **{"steps-1-key": "placed"}))
    assert "step key &#39;placed&#39; is used twice" in dup.text


def test_preview_counts_stored_events_of_the_last_30_days(
    sign_in: SignIn, clean_db: Database
) -> None:
    _orders(clean_db)
    _events(clean_db, [("other", "x1", "order.placed", {"order": {"id": "z"}}, 1)])
    client = sign_in(Role.editor)
    response = client.post("/flows/manage/preview", data=_form(client))
    assert response.status_code == 200
    summary = re.sub(r"\s+", " ", response.text)
    # 3 placed (+1 without an order id) + 3 captured + 1 shipped; the 60-day-old one is out.
    assert "<strong>8</strong> events and <strong>3</strong> unique flows" in summary
    assert "1 of these events lack the correlation field" in summary
    rows = re.findall(r'<td class="num">(\d+)</td><td class="num">(\d+)</td>', response.text)
    assert rows == [("4", "3"), ("3", "3"), ("1", "1")]
    # A wider window (from a fixed list) takes in the 60-day-old event; others fall back to 30.
    wide = client.post("/flows/manage/preview", data=_form(client, preview_days="90")).text
    assert "<strong>9</strong> events and <strong>4</strong> unique flows" in wide
    assert "in the last 90 days" in wide
    odd = client.post("/flows/manage/preview", data=_form(client, preview_days="100000")).text
    assert "in the last 30 days" in odd


def test_preview_of_an_invalid_draft_says_what_to_fix(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    response = client.post("/flows/manage/preview", data=_form(client, correlation=""))
    assert "Fix the draft first" in response.text
    assert "<code>correlation</code>: is required" in response.text


def test_concurrent_change_is_refused_with_a_clear_message(
    sign_in: SignIn, session: Session
) -> None:
    service.store_definition(session, definition(slug="orders", providers=["shop"]), "alice")
    session.commit()
    client = sign_in(Role.editor)
    page = client.get("/flows/manage/orders/edit")
    assert 'name="expected_version" value="1"' in page.text
    service.store_definition(
        session, definition(slug="orders", name="Changed", providers=["shop"]), "bob"
    )
    session.commit()
    response = client.post("/flows/manage/save", data=_form(client, expected_version="1"))
    assert response.status_code == 400
    assert "someone else changed this flow" in response.text
    assert "at version 2 by bob" in response.text
    assert service.get_flow(session, "orders").version == 2


def test_upload_yaml_creates_then_adds_a_version_and_shows_errors(
    sign_in: SignIn, session: Session
) -> None:
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/flows/manage").text)
    text = to_yaml(definition(slug="orders", providers=["shop"]))

    def upload(body: str) -> str:
        files = {"file": ("orders.yaml", body.encode(), "application/yaml")}
        response = client.post("/flows/manage/upload", data={"csrf_token": token}, files=files)
        return response.text

    assert "Online orders: created" in upload(text)
    assert "Online orders: saved as version 2" in upload(text.replace("Paid", "Money in"))
    assert "unchanged" in upload(text.replace("Paid", "Money in"))
    bad = upload(text.replace("slug: orders", "slug: Orders!"))
    assert "The file was not imported" in bad
    assert "<code>slug</code>: &#39;Orders!&#39; is not a slug" in bad
    history = client.get("/flows/manage/orders/history").text
    assert "changed step paid" in history
    assert "created" in history
    download = client.get("/flows/manage/orders/download")
    assert download.headers["content-disposition"] == 'attachment; filename="orders.yaml"'
    assert "name: Money in" in download.text


def test_yaml_editor_saves_and_shows_errors_with_paths(sign_in: SignIn, session: Session) -> None:
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/flows/manage/yaml").text)
    text = to_yaml(definition(slug="orders", providers=["shop"]))
    bad = client.post(
        "/flows/manage/yaml",
        data={"csrf_token": token, "expected_version": "0", "source": text + "colour: red\n"},
    )
    assert bad.status_code == 400
    assert "<code>colour</code>: is not a known field" in bad.text
    broken = text.replace("key: paid", "key: paid!")
    line = broken.splitlines().index("- key: paid!") + 1
    keyed = client.post(
        "/flows/manage/yaml",
        data={"csrf_token": token, "expected_version": "0", "source": broken},
    )
    assert (
        f"line {line}, <code>steps[1].key</code>: &#39;paid!&#39; is not a step key" in keyed.text
    )
    good = client.post(
        "/flows/manage/yaml",
        data={"csrf_token": token, "expected_version": "0", "source": text},
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert service.get_flow(session, "orders").version == 1


def test_suggest_from_events_opens_a_valid_draft(
    sign_in: SignIn, clean_db: Database, session: Session
) -> None:
    field = "order.id"
    _orders(clean_db)
    client = sign_in(Role.editor)
    page = client.get("/flows/manage/suggest")
    assert "<option selected>shop</option>" in page.text
    assert f"<option>{field}</option>" in page.text
    assert "<option>customer</option>" in page.text
    token = csrf_from(page.text)
    draft = client.post(
        "/flows/manage/suggest",
        data={"csrf_token": token, "provider": "shop", "correlation": field},
    )
    assert draft.status_code == 200
    assert "Suggested from 3 flows" in draft.text
    assert _step_keys(draft.text) == ["order-placed", "payment-captured", "parcel-shipped"]
    # The draft as the browser would send it back saves as is.
    fields = form_fields(draft.text)
    assert fields["providers"] == "shop"
    saved = client.post("/flows/manage/save", data=fields, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert len(service.definition_of(service.get_flow(session, "shop")).steps) == 3


def test_the_edit_form_round_trips_every_field_of_a_definition(
    sign_in: SignIn, session: Session
) -> None:
    rich = definition(
        slug="orders",
        description="From cart to door.\nSecond line.",
        providers=["shop", "logistics"],
        timeouts={"stall": "2h", "drop": "1d"},
        revenue={"field": "order.total", "step": "placed", "aggregate": "max", "label": "Sales"},
        steps=[
            {
                "key": "placed",
                "name": "Placed",
                "events": [{"type": "order.placed"}, {"provider": "shop", "type": "order.made"}],
                "properties": [{"name": "tier", "path": "customer.tier", "type": "number"}],
            },
            {
                "key": "paid",
                "name": "Paid",
                "optional": True,
                "events": [{"type": "payment.captured"}],
                "exceptions": [
                    {"name": "declined", "type": "payment.declined"},
                    {"name": "risky", "field": "risk", "op": "in", "value": ["high", "x"]},
                    {"name": "big", "field": "amount", "op": "gte", "value": 1000},
                    {"name": "code", "field": "code", "op": "eq", "value": "42"},
                    {"name": "flag", "field": "flag", "op": "ne", "value": True},
                ],
            },
            {
                "key": "shipped",
                "name": "Shipped",
                "final": True,
                "correlation": "shipment.order_ref",
                "events": [{"provider": "logistics", "type": "parcel.shipped"}],
                "timeouts": {"stall": "6h", "drop": "2d"},
            },
        ],
        edges=[
            {"from": "placed", "to": "paid"},
            {"from": "placed", "to": "shipped"},
            {"from": "paid", "to": "shipped"},
        ],
    )
    service.store_definition(session, rich, "alice")
    session.commit()
    client = sign_in(Role.editor)
    fields = form_fields(client.get("/flows/manage/orders/edit").text)
    assert fields["slug"] == "orders"
    fields["description"] = str(fields["description"]).replace("\n", "\r\n")  # as browsers do
    response = client.post("/flows/manage/save", data=fields, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert "nothing changed" in client.get("/flows/manage").text
    assert service.definition_of(service.get_flow(session, "orders")) == rich


def test_the_list_shows_build_progress_after_a_save(
    sign_in: SignIn, clean_db: Database, session: Session
) -> None:
    _orders(clean_db)
    client = sign_in(Role.editor)
    saved = client.post("/flows/manage/save", data=_form(client), follow_redirects=False)
    assert saved.status_code == 303
    assert "waiting for the correlator" in client.get("/flows/manage").text
    # One small backfill batch: the build starts and has read part of the stored events.
    _correlate_once(clean_db, batch_size=2, backfill_batches=1)
    building = re.sub(r"\s+", " ", client.get("/flows/manage").text)
    assert re.search(r"building v1: \d of \d+ events \(\d+%\)", building), building
    for _ in range(20):
        _correlate_once(clean_db)
    assert "ready v1" in client.get("/flows/manage").text


def _correlate_once(db: Database, **kwargs: int) -> None:
    with db.sessions.begin() as s:
        correlate(s, **kwargs)


def test_suggest_with_a_field_no_event_has_explains_instead_of_failing(
    sign_in: SignIn, clean_db: Database
) -> None:
    _orders(clean_db)
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/flows/manage/suggest").text)
    data = {"csrf_token": token, "provider": "shop", "correlation": "order.id"}
    response = client.post("/flows/manage/suggest", data={**data, "correlation_other": "nope.x"})
    assert response.status_code == 400
    assert "has no events with the attribute &#39;nope.x&#39;" in response.text
    assert "<option selected>shop</option>" in response.text


def test_a_preview_that_runs_too_long_stops_and_says_so(clean_db: Database) -> None:
    flow = definition(slug="orders", providers=["shop"])
    show = text("select current_setting('statement_timeout')")
    with clean_db.sessions() as s:
        before = s.execute(show).scalar_one()
        preview.preview(s, flow, timeout_ms=60_000)
        assert s.execute(show).scalar_one() == before  # put back after a preview
        s.commit()  # release this session's own lock on events before the other takes it
        # Another transaction holds the table: the preview waits, then its timeout fires.
        with clean_db.engine.connect() as other, other.begin():
            other.execute(text("lock table events in access exclusive mode"))
            with pytest.raises(FlowscopeError, match="took longer than 0.05 s"):
                preview.preview(s, flow, timeout_ms=50)
        assert s.execute(show).scalar_one() == before
        assert preview.preview(s, flow).events == 0  # the session is still usable


def test_saving_goes_back_to_the_list_that_shows_the_outcome(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    response = client.post("/flows/manage/save", data=_form(client), follow_redirects=False)
    assert response.headers["location"] == "/flows/manage"
    assert "saved as version" in client.get("/flows/manage").text


def test_the_editor_page_slug_cannot_be_a_flow() -> None:
    import pytest
    from pydantic import ValidationError

    from flowscope.flows.definitions.schemas import FlowDefinition

    with pytest.raises(ValidationError, match="reserved"):
        FlowDefinition.model_validate(
            {
                "slug": "manage",
                "name": "M",
                "providers": ["p"],
                "correlation": "id",
                "steps": [{"key": "a", "name": "A", "events": [{"type": "a"}]}],
            }
        )
