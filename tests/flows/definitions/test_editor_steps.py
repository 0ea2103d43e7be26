"""The form's step handling: blank steps, edge warnings, focus after a step operation, drag
moves and the live diagram (issue 13, point 9)."""

from __future__ import annotations

import re
from typing import Any

from flowscope.auth.models import Role
from flowscope.flows.definitions.form import (
    apply_step_op,
    draft_from_form,
    focus_after,
    kept_steps,
    renumbered,
    unwired_steps,
)
from tests.conftest import csrf_from
from tests.flows.definitions.test_editor import SignIn, _form, _step_keys


def test_a_blank_step_is_ignored_by_preview_and_save(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    # What "+ Add step" renders and the browser sends back untouched: a select left on "any".
    blank = {"steps-3-events-0-provider": "", "steps-3-key": " ", "steps-3-exceptions-0-op": ""}
    response = client.post("/flows/manage/preview", data=_form(client, **blank))
    assert response.status_code == 200
    assert "Fix the draft first" not in response.text
    assert "steps[3]" not in response.text
    saved = client.post("/flows/manage/save", data=_form(client, **blank), follow_redirects=False)
    assert saved.status_code == 303


def test_a_half_filled_step_is_kept_and_named_as_on_the_form(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    data = _form(client)
    # Step 2 (index 1) is blank, step 4 (index 3) half-filled: the problem names index 3.
    for name in [n for n in data if n.startswith("steps-1-")]:
        data[name] = ""
    data["steps-3-name"] = "Returned"
    response = client.post("/flows/manage/preview", data=data)
    assert "<code>steps[3].key</code>: is required" in response.text
    assert "steps[2].key" not in response.text


def test_step_operations_keep_blank_steps_on_screen() -> None:
    form = {"steps-0-key": "a", "steps-0-events-0-type": "x", "steps-1-key": ""}
    assert [s.get("key") for s in draft_from_form(form, [])["steps"]] == ["a"]
    kept = draft_from_form(form, [], keep_blank_steps=True)["steps"]
    assert [s.get("key") for s in kept] == ["a", None]
    assert kept_steps(form) == [0]
    details = [{"path": "steps[1].name", "message": "m"}, {"path": "edges[1].from", "message": "m"}]
    assert [d["path"] for d in renumbered(details, [0, 2])] == ["steps[2].name", "edges[1].from"]


def test_add_step_still_adds_a_blank_one(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    added = client.post("/flows/manage/draft", data=_form(client, op="add"))
    twice = client.post("/flows/manage/draft", data={**_form(client, op="add"), "steps-3-key": ""})
    assert _step_keys(added.text) == ["placed", "paid", "shipped", ""]
    assert _step_keys(twice.text) == ["placed", "paid", "shipped", "", ""]
    assert re.search(r'id="step-4"', twice.text)


def test_focus_goes_where_the_operation_left_the_step() -> None:
    assert focus_after("add", 4) == "steps-3-key"
    assert focus_after("up:2", 3) == "step-1-up"
    assert focus_after("up:1", 3) == "step-0-down"  # step 1 has no "up" any more
    assert focus_after("down:0", 3) == "step-1-down"
    assert focus_after("down:1", 3) == "step-2-up"
    assert focus_after("remove:2", 2) == "steps-1-key"
    assert focus_after("refresh", 3) is None


def test_a_drag_moves_one_step_to_its_new_place() -> None:
    draft: dict[str, Any] = {"steps": [{"key": k} for k in "abcd"]}
    assert [s["key"] for s in apply_step_op(draft, "move:3:0")["steps"]] == list("dabc")
    assert [s["key"] for s in apply_step_op(draft, "move:0:2")["steps"]] == list("abdc")
    assert [s["key"] for s in apply_step_op(draft, "move:0:9")["steps"]] == list("abdc")


def test_steps_outside_listed_edges_are_named() -> None:
    steps = [{"key": "a"}, {"key": "b"}, {}]
    assert unwired_steps({"steps": steps}) == []  # no edges listed: the steps in order
    edges = [{"from": "a", "to": "a"}]
    assert unwired_steps({"steps": steps, "edges": edges}) == [(1, "b"), (2, None)]


def test_the_form_warns_after_adding_a_step_to_a_flow_with_edges(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    edges = {"edges-0-from": "placed", "edges-0-to": "paid", "edges-1-from": "paid"}
    data = _form(client, op="add", **edges, **{"edges-1-to": "shipped"})
    html = client.post("/flows/manage/draft", data=data, headers={"hx-request": "true"}).text
    warning = re.sub(r"\s+", " ", html.split('id="edge-warning">')[1].split("</p>")[0])
    assert "step 4 is in none of them" in warning
    assert 'data-focus="steps-3-key"' in html
    wired = client.post("/flows/manage/draft", data=_form(client, op="add")).text
    assert "edge-warning" not in wired  # the steps in order: nothing to wire


def test_the_live_diagram_draws_an_unfinished_draft(sign_in: SignIn) -> None:
    client = sign_in(Role.editor)
    # No correlation, a step without events, a blank step: the shape is still drawn.
    data = _form(client, correlation="", **{"steps-2-events-0-type": "", "steps-3-key": ""})
    data |= {"edges-0-from": "placed", "edges-0-to": "paid"}
    html = client.post("/flows/manage/diagram", data=data).text
    assert sorted(re.findall(r'data-step="([^"]+)"', html)) == ["paid", "placed", "shipped"]
    assert re.findall(r'class="step unwired" data-step="([^"]+)"', html) == ["shipped"]
    bad = client.post("/flows/manage/diagram", data=_form(client, **{"steps-1-key": "placed"}))
    assert bad.status_code == 200
    assert "step key &#39;placed&#39; is used twice" in bad.text
    assert "<svg" not in bad.text


def test_the_live_diagram_is_for_editors(sign_in: SignIn) -> None:
    client = sign_in(Role.viewer)
    token = csrf_from(client.get("/").text)
    response = client.post("/flows/manage/diagram", data={"csrf_token": token})
    assert response.status_code == 403
