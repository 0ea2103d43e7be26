"""The flow form: flat HTML field names to definition data and back, and errors to fields.

A field is named after the path of its value in the definition with `-` between the parts:
`steps-2-events-0-type` is `steps[2].events[0].type`. So a Pydantic error path maps to the
field it is about by the same rule (`field_name`), and the form shows it next to that field.
Rows left blank (a matcher, an exception, a property, an edge) are dropped. A step left wholly
blank (what "+ Add step" gives) is dropped too when the draft is previewed or saved, as the form's
hint promises; a half-filled step is kept, so it shows what it still needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from flowscope.flows.definitions.yaml_io import InvalidDefinition, load_yaml

Draft = dict[str, Any]

_STEP_FIELD = re.compile(r"^steps-(\d+)-")


def field_name(path: str) -> str:
    """`steps[1].events[0].type` → `steps-1-events-0-type` (the form field of that value)."""
    return re.sub(r"\[(\d+)\]", r"-\1", path).replace(".", "-")


_FRIENDLY = {
    "events": "add at least one event type that marks this step",
    "steps": "add at least one step",
    "providers": "choose or type at least one provider",
}


def friendly(details: list[dict[str, str]]) -> list[dict[str, str]]:
    """Pydantic's words for an empty list ("list should have at least 1 item…") in the form's."""
    out = []
    for problem in details:
        last = re.split(r"[.\[]", problem["path"])[-1]
        if problem["message"].startswith("list should have at least 1 item") and last in _FRIENDLY:
            problem = {**problem, "message": _FRIENDLY[last]}
        out.append(problem)
    return out


def errors_by_field(details: list[dict[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in details:
        out.setdefault(field_name(problem["path"]), []).append(problem["message"])
    return out


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _indexes(form: Mapping[str, Any], prefix: str) -> list[int]:
    """The row numbers `n` of fields named `<prefix>-<n>-…`, in order."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)-")
    found = {int(m.group(1)) for name in form if (m := pattern.match(name))}
    return sorted(found)


def _timeouts(form: Mapping[str, Any], prefix: str) -> dict[str, str] | None:
    timeouts: dict[str, str] = {}
    _put(timeouts, "stall", _text(form, f"{prefix}-stall"))
    _put(timeouts, "drop", _text(form, f"{prefix}-drop"))
    return timeouts or None


def _value(raw: str | None) -> Any:
    """An exception's value as YAML: `42` is a number, `[a, b]` a list, `gold` text."""
    if raw is None:
        return None
    try:
        return load_yaml(raw)
    except InvalidDefinition:
        return raw


def _rows(form: Mapping[str, Any], prefix: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for i in _indexes(form, prefix):
        row: dict[str, Any] = {}
        for f in fields:
            _put(row, f, _text(form, f"{prefix}-{i}-{f}"))
        if row:
            rows.append(row)
    return rows


def _step(form: Mapping[str, Any], i: int) -> dict[str, Any]:
    p = f"steps-{i}"
    step: dict[str, Any] = {}
    _put(step, "key", _text(form, f"{p}-key"))
    _put(step, "name", _text(form, f"{p}-name"))
    step["events"] = _rows(form, f"{p}-events", ("provider", "type"))
    if form.get(f"{p}-optional"):
        step["optional"] = True
    if form.get(f"{p}-final"):
        step["final"] = True
    _put(step, "correlation", _text(form, f"{p}-correlation"))
    exceptions = _rows(form, f"{p}-exceptions", ("name", "type", "field", "op", "value"))
    for rule in exceptions:
        if "value" in rule:
            rule["value"] = _value(rule["value"])
    if exceptions:
        step["exceptions"] = exceptions
    properties = _rows(form, f"{p}-properties", ("name", "path", "type"))
    if properties:
        step["properties"] = properties
    _put(step, "timeouts", _timeouts(form, f"{p}-timeouts"))
    return step


def _blank(step: dict[str, Any]) -> bool:
    return step == {"events": []}


def kept_steps(form: Mapping[str, Any]) -> list[int]:
    """The form's step numbers that are not wholly blank, in order (see `renumbered`)."""
    return [i for i in _indexes(form, "steps") if not _blank(_step(form, i))]


def renumbered(details: list[dict[str, str]], kept: list[int]) -> list[dict[str, str]]:
    """Problems about the draft without its blank steps, with `steps[n]` named as on the form.

    With a blank step 2 dropped, the draft's `steps[2]` is the form's step 3: a message must
    name the step the editor sees."""

    def form_index(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f"steps[{kept[n] if n < len(kept) else n}]"

    return [{**p, "path": re.sub(r"^steps\[(\d+)\]", form_index, p["path"])} for p in details]


def draft_from_form(
    form: Mapping[str, Any], providers: list[str], *, keep_blank_steps: bool = False
) -> Draft:
    """The definition data a submitted form describes (not validated).

    Blank steps are dropped unless `keep_blank_steps` (a step operation keeps them on screen)."""
    draft: Draft = {}
    _put(draft, "slug", _text(form, "slug"))
    _put(draft, "name", _text(form, "name"))
    description = _text(form, "description")
    # Browsers send a textarea's line breaks as CRLF; stored text uses LF (no spurious version).
    _put(draft, "description", description.replace("\r\n", "\n") if description else None)
    extra = [p.strip() for p in (_text(form, "providers_extra") or "").split(",")]
    chosen = [*providers, *(p for p in extra if p)]
    draft["providers"] = list(dict.fromkeys(chosen))
    _put(draft, "correlation", _text(form, "correlation"))
    _put(draft, "timeouts", _timeouts(form, "timeouts"))
    revenue: dict[str, Any] = {}
    for f in ("field", "step", "aggregate", "label", "currency"):
        _put(revenue, f, _text(form, f"revenue-{f}"))
    if revenue.get("field"):  # a label or aggregate alone means no revenue
        draft["revenue"] = revenue
    steps = [_step(form, i) for i in _indexes(form, "steps")]
    draft["steps"] = steps if keep_blank_steps else [s for s in steps if not _blank(s)]
    edges = list(_rows(form, "edges", ("from", "to")))
    if edges:
        draft["edges"] = edges
    return draft


def apply_step_op(draft: Draft, op: str) -> Draft:
    """`add`, `remove:<i>`, `up:<i>`, `down:<i>`, `move:<i>:<j>` (a drag: step i goes to place
    j) on the draft's steps; anything else is a no-op."""
    steps: list[dict[str, Any]] = draft.setdefault("steps", [])
    kind, _, index = op.partition(":")
    i = int(index) if index.isdigit() else -1
    if kind == "move":
        start, _, end = index.partition(":")
        if start.isdigit() and end.isdigit() and max(int(start), int(end)) < len(steps):
            steps.insert(int(end), steps.pop(int(start)))
    elif kind == "add":
        steps.append({"events": []})
    elif kind == "remove" and 0 <= i < len(steps):
        steps.pop(i)
    elif kind == "up" and 0 < i < len(steps):
        steps[i - 1], steps[i] = steps[i], steps[i - 1]
    elif kind == "down" and 0 <= i < len(steps) - 1:
        steps[i], steps[i + 1] = steps[i + 1], steps[i]
    return draft


def focus_after(op: str, count: int) -> str | None:
    """The id of the control to focus once a step operation's answer is swapped in.

    The swap replaces every step, so the focused button goes with it: the new step's first
    field after "+ Add step", the moved step's same button after a move (the other one when
    that is now disabled), the step that took a removed one's place."""
    kind, _, index = op.partition(":")
    if kind == "add" and count:
        return f"steps-{count - 1}-key"
    if not index.isdigit() or not count:
        return None
    i = int(index)
    if kind == "up" and i > 0:
        i -= 1
        return f"step-{i}-up" if i > 0 else f"step-{i}-down"
    if kind == "down" and i < count - 1:
        i += 1
        return f"step-{i}-down" if i < count - 1 else f"step-{i}-up"
    if kind == "remove":
        return f"steps-{min(i, count - 1)}-key"
    return None


def unwired_steps(draft: Draft) -> list[tuple[int, str | None]]:
    """The steps (number, key) in none of the draft's explicit edges.

    Listed edges replace "the steps in order", so a step added to such a flow is a start of
    its own that leads nowhere: valid, and almost never what the editor meant."""
    edges = [e for e in draft.get("edges") or [] if isinstance(e, dict)]
    steps = draft.get("steps") or []
    if not edges or len(steps) < 2:
        return []
    wired = {e.get(end) for e in edges for end in ("from", "to")}
    return [(i, s.get("key")) for i, s in enumerate(steps) if s.get("key") not in wired]


def blank_draft() -> Draft:
    return {
        "providers": [],
        "timeouts": {"stall": "1h", "drop": "24h"},
        "steps": [{"events": []}],
    }


def step_errors(errors: dict[str, list[str]], index: int) -> bool:
    """Whether step `index` has any error (to open its details)."""
    return any((m := _STEP_FIELD.match(name)) and int(m.group(1)) == index for name in errors)


def with_lines(source: str, details: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each problem of a YAML text with the line its path points at (`line`), where found."""
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return details  # a syntax error already names its line
    out = []
    for problem in details:
        node = root
        for part in re.findall(r"[^.\[\]]+", problem["path"]):
            node = _child(node, part)
            if node is None:
                break
        if node is not None and problem["path"]:
            problem = {**problem, "line": str(node.start_mark.line + 1)}
        out.append(problem)
    return out


def _child(node: yaml.Node | None, part: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == part), None)
    if isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
        found: yaml.Node = node.value[int(part)]
        return found
    return None
