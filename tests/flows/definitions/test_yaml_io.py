from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowscope.auth.models import Role
from flowscope.flows.definitions import schemas, views
from flowscope.flows.definitions.schemas import KEY, RESERVED_SLUGS, SLUG, FlowDefinition
from flowscope.flows.definitions.yaml_io import (
    MAX_YAML_BYTES,
    MAX_YAML_NODES,
    InvalidDefinition,
    YamlTooLarge,
    from_yaml,
    parse_definition,
    to_yaml,
)
from tests.conftest import csrf_from
from tests.flows.factories import definition

EXAMPLE = "\n".join(
    line.removeprefix("    ")
    for line in (schemas.__doc__ or "").split("Example (YAML):", 1)[1].splitlines()
)


def test_documented_example_exports_as_readable_yaml() -> None:
    text = to_yaml(from_yaml(EXAMPLE))
    assert text == (
        "slug: online-orders\n"
        "name: Online order fulfillment\n"
        "providers: [shop.checkout, shop.logistics]\n"
        "correlation: order.id\n"
        "steps:\n"
        "- key: placed\n"
        "  name: Order placed\n"
        "  events:\n"
        "  - {type: order.placed}\n"
        "  properties:\n"
        "  - name: loyalty\n"
        "    path: customer.tier\n"
        "- key: paid\n"
        "  name: Payment captured\n"
        "  events:\n"
        "  - {type: payment.captured}\n"
        "  exceptions:\n"
        "  - name: payment declined\n"
        "    type: payment.declined\n"
        "- key: shipped\n"
        "  name: Parcel shipped\n"
        "  events:\n"
        "  - {provider: shop.logistics, type: parcel.shipped}\n"
        "  correlation: shipment.order_ref\n"
        "  timeouts: {stall: 6h, drop: 2d}\n"
        "edges:\n"
        "- {from: placed, to: paid}\n"
        "- {from: paid, to: shipped}\n"
        "revenue:\n"
        "  field: order.total\n"
        "  step: placed\n"
        "timeouts: {stall: 2h, drop: 1d}\n"
    )


def test_default_flow_timeouts_are_written_out() -> None:
    assert to_yaml(definition()).endswith("timeouts: {stall: 1h, drop: 1d}\n")


def test_json_is_accepted_as_yaml() -> None:
    d = definition(description="two\nlines")
    assert from_yaml(json.dumps(d.model_dump(mode="json", by_alias=True))) == d


def test_multiline_description_is_a_literal_block() -> None:
    text = to_yaml(definition(description="First line.\nSecond line.\n"))
    assert "description: |\n  First line.\n  Second line.\n" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            EXAMPLE.replace("drop: 48h", "drop: 2x"),
            "steps[2].timeouts.drop: '2x' is not a duration such as 30m, 2h or 1d",
        ),
        ("slug: a\nname: [b\n", "YAML syntax error at line 3, column 1:"),
        ("slug: a\nname: b\n  steps: 1\n", "YAML syntax error at line 3, column 8:"),
        ("slug: a\nslug: b\n", "YAML syntax error at line 2, column 1: key 'slug' is given twice"),
        (
            "a: &x [1, 2]\nb: [*x, *x]\n",
            "YAML syntax error at line 2, column 5: aliases (*name) are not supported",
        ),
        ("- a\n- b\n", "a flow definition is a mapping (slug, name, steps…), not list"),
        ("", "a flow definition is a mapping (slug, name, steps…), not nothing"),
        (EXAMPLE.replace("slug: online-orders", "slug: Online Orders"), "slug: 'Online Orders' "),
        (EXAMPLE.replace("    name: Order placed", "    nme: Order placed"), "steps[0].name: is"),
        ("colour: red\n" + EXAMPLE, "colour: is not a known field"),
        (
            EXAMPLE.replace("{from: paid, to: shipped}", "{from: paid, to: packed}"),
            "edge paid → packed: unknown step 'packed'",
        ),
    ],
)
def test_import_errors_name_the_path_and_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        from_yaml(text)
    assert message in caught.value.message
    assert "\n" not in caught.value.message
    assert caught.value.details


def test_every_problem_is_listed_with_its_path() -> None:
    bad = EXAMPLE.replace("drop: 48h", "drop: 2x").replace("name: Parcel shipped", "name: ''")
    with pytest.raises(InvalidDefinition) as caught:
        from_yaml(bad)
    paths = [d["path"] for d in caught.value.details]
    assert paths == ["steps[2].name", "steps[2].timeouts.drop"]


def test_dates_and_yes_no_words_stay_text() -> None:
    text = EXAMPLE.replace("name: Order placed", "name: 2024-01-01").replace(
        "type: order.placed", "type: on"
    )
    loaded = from_yaml(text)
    assert loaded.steps[0].name == "2024-01-01"
    assert loaded.steps[0].events[0].type == "on"
    assert to_yaml(from_yaml(to_yaml(loaded))) == to_yaml(loaded)


def test_yes_is_still_a_boolean_where_the_schema_wants_one() -> None:
    loaded = from_yaml(
        EXAMPLE.replace("    name: Parcel shipped", "    name: P\n    optional: yes")
    )
    assert loaded.steps[2].optional is True


# --- property: export → import → export is byte-identical --------------------------------------

_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_json_scalar = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_duration = st.integers(min_value=1, max_value=10 * 86400).map(lambda s: timedelta(seconds=s))


@st.composite
def _timeouts(draw: st.DrawFn) -> dict[str, Any]:
    stall, drop = draw(st.lists(_duration, min_size=2, max_size=2, unique=True).map(sorted))
    kinds = draw(st.sampled_from(["both", "stall", "drop", "none"]))
    out: dict[str, Any] = {}
    if kinds in ("both", "stall"):
        out["stall"] = stall
    if kinds in ("both", "drop"):
        out["drop"] = drop
    return out


@st.composite
def _exception(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(_text)
    if draw(st.booleans()):
        return {"name": name, "type": draw(_text)}
    op = draw(st.sampled_from(["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"]))
    rule: dict[str, Any] = {"name": name, "field": draw(_text), "op": op}
    if op == "in":
        rule["value"] = draw(st.lists(_json_scalar, max_size=3))
    elif op != "exists":
        rule["value"] = draw(_json_scalar)
    return rule


@st.composite
def definitions(draw: st.DrawFn) -> FlowDefinition:
    providers = draw(st.lists(_text, min_size=1, max_size=3, unique=True))
    keys = draw(st.lists(st.from_regex(KEY, fullmatch=True), min_size=1, max_size=5, unique=True))
    types = draw(st.lists(_text, min_size=len(keys), max_size=len(keys), unique=True))
    steps = []
    for key, etype in zip(keys, types, strict=True):
        step: dict[str, Any] = {
            "key": key,
            "name": draw(_text),
            "events": [{"type": etype, "provider": draw(st.none() | st.sampled_from(providers))}],
            "optional": draw(st.booleans()),
            "final": draw(st.booleans()),
            "correlation": draw(st.none() | _text),
            "exceptions": draw(st.lists(_exception(), max_size=2)),
            "properties": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {"name": _text, "path": _text},
                        optional={
                            "type": st.sampled_from(["string", "number", "boolean", "timestamp"])
                        },
                    ),
                    max_size=2,
                )
            ),
            "timeouts": draw(st.none() | _timeouts()),
        }
        steps.append(step)
    chain = [{"from": a, "to": b} for a, b in zip(keys, keys[1:], strict=False)]
    extra = draw(
        st.lists(st.tuples(st.sampled_from(keys), st.sampled_from(keys)), max_size=3).map(
            lambda pairs: [{"from": a, "to": b} for a, b in pairs]
        )
    )
    data: dict[str, Any] = {
        "slug": draw(st.from_regex(SLUG, fullmatch=True).filter(lambda s: s not in RESERVED_SLUGS)),
        "name": draw(_text),
        "description": draw(st.text(max_size=40)),
        "providers": providers,
        "correlation": draw(_text),
        "steps": steps,
        "edges": draw(st.sampled_from([None, chain + extra])),
        "timeouts": draw(_timeouts()),
    }
    if draw(st.booleans()):
        data["revenue"] = {
            "field": draw(_text),
            "step": draw(st.sampled_from(keys)),
            "aggregate": draw(st.sampled_from(["sum", "max", "first", "last"])),
            "label": draw(_text),
        }
    return FlowDefinition.model_validate(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions())
def test_export_import_export_is_byte_identical(original: FlowDefinition) -> None:
    text = to_yaml(original)
    loaded = from_yaml(text)
    assert loaded == original
    assert to_yaml(loaded) == text


@settings(max_examples=100, deadline=None)
@given(definitions())
def test_stored_json_and_yaml_give_the_same_definition(original: FlowDefinition) -> None:
    stored = original.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert parse_definition(json.loads(json.dumps(stored))) == from_yaml(to_yaml(original))


# --- limits: nothing a file can hold makes the reader answer 500 or spend minutes -------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slug: a\n? [x, y]\n: 1\n", "YAML syntax error at line 2, column 3: a key must be text"),
        ("slug: a\n{[x]: 1}: 2\n", "YAML syntax error at line 2, column 2: a key must be text"),
        ("slug: a\n? {x: 1}\n: 2\n", "line 2, column 3: a key must be text or a number, not a"),
        ("a: " + "[" * 100 + "]" * 100, "line 1, column 67: nesting is deeper than 64 levels"),
        ("a: " + "[" * 5000 + "]" * 5000, "YAML syntax error at line 1"),
        ("a:\n" + "".join(f"- {i}\n" for i in range(MAX_YAML_NODES)), "more than 20,000 values"),
        ("slug: 1" + "0" * 5000, "line 1, column 7: '10000000000"),
        ("slug: !!timestamp 2024-13-45\n", "'2024-13-45' cannot be read: month must be in 1..12"),
    ],
)
def test_unreadable_or_oversized_yaml_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        from_yaml(text)
    assert message in caught.value.message
    assert caught.value.status_code == 422
    assert "\n" not in caught.value.message


def test_yaml_over_the_size_limit_is_refused_before_parsing() -> None:
    text = "description: " + "x" * MAX_YAML_BYTES
    with pytest.raises(YamlTooLarge) as caught:
        from_yaml(text)
    assert caught.value.status_code == 413
    assert caught.value.message == (
        f"the YAML is {len(text):,} bytes; at most {MAX_YAML_BYTES:,} are accepted"
    )


def test_generator_configuration_is_read_within_the_same_limits() -> None:
    from flowscope.generator.service import InvalidConfig, parse_config

    for text, message in (
        ("a: &x [1, 2]\nb: *x\n", "aliases (*name) are not supported"),
        ("name: 1" + "0" * 5000, "cannot be read"),
        ("a: " + "[" * 5000 + "]" * 5000, "YAML line 1"),
        ("x" * (MAX_YAML_BYTES + 1), "at most 1,000,000 are accepted"),
    ):
        with pytest.raises(InvalidConfig) as caught:
            parse_config(text)
        assert message in caught.value.message


def test_api_answers_4xx_for_a_list_valued_key_and_413_when_too_large(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    headers = {
        "Authorization": f"Api-Token {make_token('admin')}",
        "Content-Type": "application/yaml",
    }
    listed = client.put("/api/v1/flows/x", content=b"slug: x\n? [a, b]\n: 1\n", headers=headers)
    assert listed.status_code == 422
    assert listed.json()["error"]["message"] == (
        "YAML syntax error at line 2, column 3: a key must be text or a number, not a list"
    )
    deep = client.put("/api/v1/flows/x", content=b"a: " + b"[" * 5000, headers=headers)
    assert deep.status_code == 422
    big = client.put("/api/v1/flows/x", content=b"#" * (MAX_YAML_BYTES + 1), headers=headers)
    assert big.status_code == 413
    assert big.json()["error"]["message"] == (
        f"the definition is {MAX_YAML_BYTES + 1:,} bytes; at most 1,000,000 are accepted"
    )


def test_editor_parses_uploads_and_the_yaml_editor_off_the_event_loop(
    sign_in: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A megabyte of YAML takes seconds of CPU: on the event loop it stalls every request."""
    on_loop: list[bool] = []

    def recording(text: str | bytes) -> FlowDefinition:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # a worker thread has no running loop
            on_loop.append(False)
        return from_yaml(text)

    monkeypatch.setattr(views, "from_yaml", recording)
    client = sign_in(Role.editor)
    token = csrf_from(client.get("/flows/manage").text)
    text = to_yaml(definition(slug="orders", providers=["shop"]))
    files = {"file": ("orders.yaml", text.encode(), "application/yaml")}
    client.post("/flows/manage/upload", data={"csrf_token": token}, files=files)
    client.post("/flows/manage/yaml", data={"csrf_token": token, "source": text})
    assert on_loop == [False, False]
