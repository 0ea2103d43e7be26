"""The form's step handling: blank steps, edge warnings, focus after a step operation, drag
moves and the live diagram (issue 13, point 9)."""

from __future__ import annotations

import re

from flowscope.auth.models import Role
from flowscope.flows.definitions.form import draft_from_form, kept_steps, renumbered
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
