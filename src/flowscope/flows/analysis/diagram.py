"""Layout of the flow diagram, computed on the server so the page needs no layout library.

Steps run top to bottom in the order the definition lists them. An edge to a later step is a
forward edge; its target's rank is the longest forward path to it, so branches that may run in
parallel share a rank and sit side by side, and a join sits below all of its branches. An edge
to the same or an earlier step is a loop and is drawn as an arc in its own lane on the right,
so loops never cross the steps they jump over. Forward edges that skip ranks (around optional
steps) bend out to the left for the same reason.

`figures` picks from a flow analysis the counts the diagram draws on that layout.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from flowscope.flows.analysis.schemas import EdgeFigures, FlowAnalysis, StepFigures
from flowscope.flows.definitions.schemas import FlowDefinition

NODE_W = 240
NODE_H = 68
GAP_X = 48
GAP_Y = 72
LANE = 26
MARGIN = 24
LABEL_W = 150


@dataclass
class Node:
    key: str
    name: str
    rank: int
    x: float
    y: float
    optional: bool
    final: bool

    @property
    def cx(self) -> float:
        return self.x + NODE_W / 2


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # "forward", "skip", "loop" or "self"
    path: str
    label_x: float
    label_y: float


@dataclass
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float
    node_w: int = NODE_W
    node_h: int = NODE_H
    by_key: dict[str, Node] = field(default_factory=dict)


def layout(definition: FlowDefinition) -> Layout:
    order = {step.key: i for i, step in enumerate(definition.steps)}
    edges = definition.effective_edges()
    rank = {step.key: 0 for step in definition.steps}
    forward = sorted((e for e in edges if order[e[1]] > order[e[0]]), key=lambda e: order[e[0]])
    # The steps' order is a topological order of the forward edges: one pass settles ranks.
    for source, target in forward:
        rank[target] = max(rank[target], rank[source] + 1)

    rows: dict[int, list[str]] = defaultdict(list)
    for step in definition.steps:
        rows[rank[step.key]].append(step.key)
    widest = max(len(keys) for keys in rows.values())
    loops = [e for e in edges if order[e[1]] < order[e[0]]]
    skips = [e for e in forward if rank[e[1]] - rank[e[0]] > 1]
    left = MARGIN + (len(skips) * LANE if skips else 0)
    inner_w = widest * NODE_W + (widest - 1) * GAP_X
    nodes: dict[str, Node] = {}
    for r, keys in sorted(rows.items()):
        row_w = len(keys) * NODE_W + (len(keys) - 1) * GAP_X
        x0 = left + (inner_w - row_w) / 2
        for i, key in enumerate(keys):
            step = definition.steps[order[key]]
            nodes[key] = Node(
                key,
                step.name,
                r,
                x0 + i * (NODE_W + GAP_X),
                MARGIN + r * (NODE_H + GAP_Y),
                step.optional,
                step.final,
            )

    right = left + inner_w
    drawn: list[Edge] = []
    for source, target in edges:
        a, b = nodes[source], nodes[target]
        if source == target:
            drawn.append(_self_edge(a))
        elif (source, target) in loops:
            lane = right + LANE * (1 + loops.index((source, target)))
            drawn.append(_loop_edge(a, b, lane))
        elif (source, target) in skips:
            lane = left - LANE * (1 + skips.index((source, target)))
            drawn.append(_skip_edge(a, b, lane))
        else:
            drawn.append(_forward_edge(a, b))
    width: float = right + LANE * (len(loops) + 1) + MARGIN + 40
    # Labels of loops and self-edges sit right of their arc: leave room for "1,234 · 2 h 5 min".
    for edge in drawn:
        if edge.kind in ("loop", "self"):
            width = max(width, edge.label_x + LABEL_W)
    height = MARGIN * 2 + (max(rank.values()) + 1) * (NODE_H + GAP_Y) - GAP_Y
    return Layout(list(nodes.values()), drawn, width, height, by_key=nodes)


def _forward_edge(a: Node, b: Node) -> Edge:
    x1, y1 = a.cx, a.y + NODE_H
    x2, y2 = b.cx, b.y
    mid = (y1 + y2) / 2
    path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2 - 6:.0f}"
    return Edge(a.key, b.key, "forward", path, (x1 + x2) / 2 + 8, mid)


def _skip_edge(a: Node, b: Node, lane: float) -> Edge:
    y1, y2 = a.y + NODE_H / 2, b.y + NODE_H / 2
    path = (
        f"M{a.x:.0f},{y1:.0f} C{lane:.0f},{y1:.0f} {lane:.0f},{y1:.0f} {lane:.0f},{y1 + 20:.0f} "
        f"L{lane:.0f},{y2 - 20:.0f} C{lane:.0f},{y2:.0f} {lane:.0f},{y2:.0f} {b.x - 6:.0f},{y2:.0f}"
    )
    return Edge(a.key, b.key, "skip", path, lane + 6, (y1 + y2) / 2)


def _loop_edge(a: Node, b: Node, lane: float) -> Edge:
    x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
    x2, y2 = b.x + NODE_W, b.y + NODE_H / 2
    path = (
        f"M{x1:.0f},{y1:.0f} C{lane:.0f},{y1:.0f} {lane:.0f},{y1:.0f} {lane:.0f},{y1 - 20:.0f} "
        f"L{lane:.0f},{y2 + 20:.0f} C{lane:.0f},{y2:.0f} {lane:.0f},{y2:.0f} {x2 + 6:.0f},{y2:.0f}"
    )
    return Edge(a.key, b.key, "loop", path, lane + 6, (y1 + y2) / 2)


def _self_edge(a: Node) -> Edge:
    x, y = a.x + NODE_W, a.y + NODE_H / 2
    path = (
        f"M{x:.0f},{y - 12:.0f} C{x + 40:.0f},{y - 30:.0f} "
        f"{x + 40:.0f},{y + 30:.0f} {x + 6:.0f},{y + 12:.0f}"
    )
    return Edge(a.key, a.key, "self", path, x + 42, y)


@dataclass(frozen=True)
class Figures:
    """The counts the diagram draws on its layout: per step key, per "source>target" edge,
    and the step where most flows drop (marked red)."""

    steps: dict[str, StepFigures]
    edges: dict[str, EdgeFigures]
    worst: str | None


def figures(analysis: FlowAnalysis) -> Figures:
    steps = {s.key: s for s in analysis.steps}
    edges = {f"{e.source}>{e.target}": e for e in analysis.edges}
    # The step where most flows drop; on a tie the earlier step, where the loss starts.
    dropped = [(s.dropped, -n, s.key) for n, s in enumerate(analysis.steps) if s.dropped]
    worst = max(dropped)[2] if dropped else None
    return Figures(steps, edges, worst)
