from __future__ import annotations

from sqlalchemy.orm import Session

from flowscope.flows.definitions import service
from tests.flows.factories import definition


def test_store_definition_tells_created_updated_unchanged(session: Session) -> None:
    first = definition()
    assert service.store_definition(session, first, "ann")[1] == "created"
    assert service.store_definition(session, first, "bob")[1] == "unchanged"
    flow, outcome = service.store_definition(session, definition(name="Orders"), "bob")
    assert (outcome, flow.version, flow.updated_by) == ("updated", 2, "bob")


def test_versions_list_who_changed_what_newest_first(session: Session) -> None:
    service.store_definition(session, definition(), "ann")
    steps = [s.model_dump(by_alias=True) for s in definition().steps]
    steps.append({"key": "shipped", "name": "Shipped", "events": [{"type": "parcel.shipped"}]})
    service.store_definition(session, definition(steps=steps, timeouts={"drop": "2d"}), "bob")
    versions = service.list_versions(session, "online-orders")
    assert [(v.version, v.changed_by) for v in versions] == [(2, "bob"), (1, "ann")]
    assert service.describe_change(versions[1].definition, versions[0].definition) == [
        "added step shipped",
        "changed timeouts",
    ]
    assert service.describe_change(None, versions[1].definition) == ["created"]
    assert service.get_version(session, "online-orders", 1).definition == versions[1].definition


def test_describe_change_names_changed_removed_and_reordered_steps() -> None:
    old = service.dump_definition(definition())
    new = service.dump_definition(definition())
    new["steps"] = list(reversed(new["steps"]))  # type: ignore[call-overload]
    new["steps"][0]["name"] = "Payment"  # type: ignore[index]
    assert service.describe_change(old, new) == ["changed step paid", "reordered steps"]
    gone = service.dump_definition(definition())
    gone["steps"] = gone["steps"][:1]  # type: ignore[index]
    assert service.describe_change(old, gone) == ["removed step paid"]


def test_slug_for_makes_valid_slugs() -> None:
    assert service.slug_for("Shop.Checkout v001") == "shop-checkout-v001"
    assert service.slug_for("???") == "flow"
