from __future__ import annotations

import re
from typing import Any

from flowscope.flows.analysis.diagram import Box, layout
from flowscope.flows.definitions.schemas import FlowDefinition


def flow(
    keys: list[str], edges: list[tuple[str, str]] | None = None, **extra: Any
) -> FlowDefinition:
    data: dict[str, Any] = {
        "slug": "f",
        "name": "F",
        "providers": ["p"],
        "correlation": "id",
        "steps": [{"key": k, "name": k.title(), "events": [{"type": k}]} for k in keys],
        **extra,
    }
    if edges is not None:
        data["edges"] = [{"from": a, "to": b} for a, b in edges]
    return FlowDefinition.model_validate(data)


def test_steps_in_order_stack_top_to_bottom() -> None:
    result = layout(flow(["a", "b", "c"]))
    assert [n.rank for n in result.nodes] == [0, 1, 2]
    assert [e.kind for e in result.edges] == ["forward", "forward"]
    assert result.by_key["a"].y < result.by_key["b"].y < result.by_key["c"].y


def test_branches_share_a_rank_and_the_join_sits_below_both() -> None:
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    result = layout(flow(["a", "b", "c", "d"], edges))
    ranks = {n.key: n.rank for n in result.nodes}
    assert ranks == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert result.by_key["b"].x < result.by_key["c"].x


def test_loops_and_self_edges_are_told_apart_from_forward_edges() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "b"), ("b", "b")]
    result = layout(flow(["a", "b", "c"], edges))
    kinds = {(e.source, e.target): e.kind for e in result.edges}
    assert kinds == {
        ("a", "b"): "forward",
        ("b", "c"): "forward",
        ("c", "b"): "loop",
        ("b", "b"): "self",
    }
    assert all(n.x + result.node_w <= result.width for n in result.nodes)


def test_an_edge_around_an_optional_step_bends_out_instead_of_crossing_it() -> None:
    edges = [("a", "b"), ("b", "c"), ("a", "c")]
    result = layout(flow(["a", "b", "c"], edges))
    skip = next(e for e in result.edges if (e.source, e.target) == ("a", "c"))
    assert skip.kind == "skip"
    assert skip.label_x < result.by_key["b"].x


def test_two_hundred_steps_lay_out_in_order() -> None:
    keys = [f"s{i}" for i in range(200)]
    result = layout(flow(keys))
    assert len(result.nodes) == 200
    assert result.by_key["s199"].rank == 199
    assert result.height > result.by_key["s199"].y


def test_a_self_edge_label_fits_inside_the_drawing() -> None:
    result = layout(flow(["a", "b"], [("a", "b"), ("b", "b")]))
    self_edge = next(e for e in result.edges if e.kind == "self")
    assert self_edge.label_x + 140 <= result.width


def busy_flow() -> FlowDefinition:
    """Branches three wide, joins, skips around optional steps, loops back and onto itself:
    every kind of edge, several of each, competing for the same space."""
    keys = ["a", "b", "c", "d", "e", "f", "g"]
    edges = [
        ("a", "b"), ("a", "c"), ("a", "d"), ("b", "e"), ("c", "e"), ("d", "e"),
        ("a", "e"), ("e", "f"), ("f", "g"), ("e", "g"), ("b", "g"),
        ("f", "e"), ("g", "a"), ("e", "b"), ("c", "c"), ("f", "f"), ("g", "g"),
    ]  # fmt: skip
    return flow(keys, edges)


def test_no_label_covers_a_node_or_another_label() -> None:
    result = layout(busy_flow())
    nodes = [Box(n.x, n.y, n.x + result.node_w, n.y + result.node_h) for n in result.nodes]
    labels = [e.label_box() for e in result.edges]
    assert {e.kind for e in result.edges} == {"forward", "skip", "loop", "self"}
    for n, label in enumerate(labels):
        name = (result.edges[n].source, result.edges[n].target)
        assert not any(label.overlaps(node) for node in nodes), name
        assert not any(label.overlaps(other) for other in labels[n + 1 :]), name
        assert label.left >= 0
        assert label.right <= result.width
        assert label.top >= 0
        assert label.bottom <= result.height


def test_loop_labels_sit_outside_every_loop_lane() -> None:
    """A loop's arrowhead ends at its target's right side; a label right of every lane can
    never be under one (the old layout put "59 dropped" under a loop's arrowhead)."""
    result = layout(busy_flow())
    lanes = [e for e in result.edges if e.kind == "loop"]
    xs = [float(x) for e in lanes for x in re.findall(r"[MLC ](-?[\d.]+),", e.path)]
    outermost = max(xs)
    for edge in result.edges:
        if edge.kind in ("loop", "self"):
            assert edge.label_box().left > outermost
