"""Layout of the flow diagram, computed on the server so the page needs no layout library.

Steps run top to bottom in the order the definition lists them. An edge to a later step is a
forward edge; its target's rank is the longest forward path to it, so branches that may run in
parallel share a rank and sit side by side, and a join sits below all of its branches. An edge
to the same or an earlier step is a loop and is drawn as an arc in its own lane on the right,
so loops never cross the steps they jump over. Forward edges that skip ranks (around optional
steps) bend out to the left for the same reason.

Edge labels never cover a node or another label: a forward edge's label sits in the empty
band between its two ranks (moved along the band if another label is there), and the labels
of loops, self-edges and skips sit in a column outside all lanes, so no arc or arrowhead
crosses them. Labels are placed as boxes of the widest text they may hold ("999,999 flows ·
23 h 59 min"); the browser test measures the real text against the real nodes.

`figures` picks from a flow analysis the counts the diagram draws on that layout.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from flowscope.flows.analysis.schemas import EdgeFigures, FlowAnalysis, StepFigures
from flowscope.flows.definitions.schemas import FlowDefinition

NODE_W = 300  # "1,234 in progress 1,234 stalled 1,234 dropped" fits inside at 11.5 px
NODE_H = 68
GAP_X = 48
GAP_Y = 72
LANE = 26
MARGIN = 24
LABEL_W = 170
LABEL_H = 16  # a 12 px label: 12 above its baseline, 4 below
LABEL_STEP = 20  # how far a label moves to get out of another's way


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
    label_y: float  # the text's baseline
    anchor: str = "start"  # SVG text-anchor: "end" puts the text left of label_x

    def label_box(self) -> Box:
        left = self.label_x - LABEL_W if self.anchor == "end" else self.label_x
        return Box(left, self.label_y - 12, left + LABEL_W, self.label_y + 4)


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def overlaps(self, other: Box) -> bool:
        return (
            self.left < other.right
            and other.left < self.right
            and self.top < other.bottom
            and other.top < self.bottom
        )


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
    # Skip labels sit in a column left of the skip lanes, loop labels right of the loop lanes.
    left = MARGIN + (LABEL_W + 6 + len(skips) * LANE if skips else 0)
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
    clear = {keys[-1] for keys in rows.values()}  # nothing right of them in their row
    drawn: list[Edge] = []
    for source, target in edges:
        a, b = nodes[source], nodes[target]
        if source == target:
            drawn.append(_self_edge(a))
        elif (source, target) in loops:
            lane = right + LANE * (1 + loops.index((source, target)))
            drawn.append(_loop_edge(a, b, lane, clear))
        elif (source, target) in skips:
            lane = left - LANE * (1 + skips.index((source, target)))
            drawn.append(_skip_edge(a, b, lane))
        else:
            drawn.append(_forward_edge(a, b))
    _place_labels(drawn, list(nodes.values()), left - LANE * len(skips), right)
    bottom: float = MARGIN + (max(rank.values()) + 1) * (NODE_H + GAP_Y) - GAP_Y
    width: float = right + LANE * (len(loops) + 1) + MARGIN
    for edge in drawn:
        box = edge.label_box()
        width = max(width, box.right + MARGIN)
        bottom = max(bottom, box.bottom)
    height = bottom + MARGIN
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


def _loop_edge(a: Node, b: Node, lane: float, clear: set[str]) -> Edge:
    """An arc in its lane right of every node. A step with another step right of it in its
    row (in `clear` otherwise) is left or entered at its top or bottom corner instead of its
    right side, through the empty band next to it, so the arc never crosses that sibling."""
    y1, y2 = a.y + NODE_H / 2, b.y + NODE_H / 2
    corner_a, corner_b = a.x + NODE_W - 20, b.x + NODE_W - 20
    if a.key in clear:
        start = (
            f"M{a.x + NODE_W:.0f},{y1:.0f} C{lane:.0f},{y1:.0f} {lane:.0f},{y1:.0f} "
            f"{lane:.0f},{y1 - 20:.0f}"
        )
    else:
        start = f"M{corner_a:.0f},{a.y:.0f} L{corner_a:.0f},{a.y - 8:.0f} L{lane:.0f},{a.y - 8:.0f}"
    if b.key in clear:
        end = (
            f"L{lane:.0f},{y2 + 20:.0f} C{lane:.0f},{y2:.0f} {lane:.0f},{y2:.0f} "
            f"{b.x + NODE_W + 6:.0f},{y2:.0f}"
        )
    else:
        below = b.y + NODE_H
        end = (
            f"L{lane:.0f},{below + 8:.0f} L{corner_b:.0f},{below + 8:.0f} "
            f"L{corner_b:.0f},{below + 6:.0f}"
        )
    return Edge(a.key, b.key, "loop", f"{start} {end}", lane + 6, (y1 + y2) / 2)


def _self_edge(a: Node) -> Edge:
    x, y = a.x + NODE_W, a.y + NODE_H / 2
    path = (
        f"M{x:.0f},{y - 12:.0f} C{x + 40:.0f},{y - 30:.0f} "
        f"{x + 40:.0f},{y + 30:.0f} {x + 6:.0f},{y + 12:.0f}"
    )
    return Edge(a.key, a.key, "self", path, x + 42, y)


def _place_labels(edges: list[Edge], nodes: list[Node], skip_lane: float, right: float) -> None:
    """Move each label to the first spot near its edge that covers no node and no label
    placed before it. Loop, self and skip labels go to the outer columns; forward labels stay
    in the band between their ranks, which holds no node."""
    loop_lanes = [e.label_x - 6 for e in edges if e.kind == "loop"]
    outer_right = max([right + 40, *loop_lanes]) + 8
    taken = [Box(n.x - 4, n.y - 4, n.x + NODE_W + 4, n.y + NODE_H + 4) for n in nodes]
    for edge in edges:
        if edge.kind in ("loop", "self"):
            edge.label_x, edge.anchor = outer_right, "start"
        elif edge.kind == "skip":
            edge.label_x, edge.anchor = skip_lane - 8, "end"
        x0, y0 = edge.label_x, edge.label_y
        for dx, dy, anchor in _candidates(edge):
            edge.label_x, edge.label_y, edge.anchor = x0 + dx, y0 + dy, anchor
            box = edge.label_box()
            if box.top >= 0 and not any(box.overlaps(other) for other in taken):
                break
        taken.append(edge.label_box())


def _candidates(edge: Edge) -> list[tuple[float, float, str]]:
    """Spots to try, nearest first. Columns grow downwards without end (they hold only
    labels); a forward label tries three heights in its band, then steps right along it."""
    if edge.kind != "forward":
        return [(0, s * d * LABEL_STEP, edge.anchor) for d in range(200) for s in (1, -1)]
    spots: list[tuple[float, float, str]] = []
    for step in range(60):
        for dy in (0, -LABEL_STEP, LABEL_STEP):
            spots.append((step * (LABEL_W + 8), dy, "start"))
            if step == 0:
                spots.append((-16, dy, "end"))
    return spots


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
