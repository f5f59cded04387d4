"""A run's flow graph laid out in layers, top to bottom, for an SVG drawing.

Each step is one node (a foreach body is one node with its count of tasks); a step's layer is
its longest path from the start, and steps in a layer are ordered by where their parents are
(one barycentre pass), which untangles the fan-outs and joins flows are made of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NODE_W, NODE_H = 180, 46
GAP_X, GAP_Y = 36, 54
MARGIN = 12
_PRECEDENCE = ("failed", "running", "interrupted", "caught", "succeeded")


@dataclass(frozen=True)
class Node:
    name: str
    x: int
    y: int
    status: str
    tasks: int
    kind: str

    @property
    def label(self) -> str:
        return (
            self.name if self.tasks <= 1 else f"{self.name} \u00d7{self.tasks}"
        )  # the multiplication sign


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[str]  # SVG path data
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def step_status(statuses: Sequence[str]) -> str:
    """One status for a step's tasks: any failure shows, then running, then the rest."""
    if not statuses:
        return "pending"
    return next((s for s in _PRECEDENCE if s in statuses), statuses[0])


def layout(graph: Mapping[str, Any], statuses: Mapping[str, Sequence[str]]) -> Layout:
    """The layout of ``graph`` (a run's stored graph) with each step's task statuses."""
    steps: Mapping[str, Any] = graph.get("steps") or {}
    order = [n for n in graph.get("order") or [] if n in steps]
    order += [n for n in steps if n not in order] + [n for n in statuses if n not in steps]
    targets = {
        n: [t for t in (steps.get(n) or {}).get("targets") or [] if t in order] for n in order
    }
    layers = _layers(order, targets)
    _untangle(layers, targets)
    width = max((len(layer) for layer in layers), default=1) * (NODE_W + GAP_X) - GAP_X
    nodes = []
    for depth, layer in enumerate(layers):
        offset = (width - (len(layer) * (NODE_W + GAP_X) - GAP_X)) // 2
        for index, name in enumerate(layer):
            nodes.append(
                Node(
                    name=name,
                    x=MARGIN + offset + index * (NODE_W + GAP_X),
                    y=MARGIN + depth * (NODE_H + GAP_Y),
                    status=step_status(list(statuses.get(name, ()))),
                    tasks=len(statuses.get(name, ())),
                    kind=str((steps.get(name) or {}).get("kind") or "step"),
                )
            )
    at = {node.name: node for node in nodes}
    edges = [_edge(at[a], at[b]) for a in order for b in targets[a]]
    height = len(layers) * (NODE_H + GAP_Y) - GAP_Y + 2 * MARGIN
    return Layout(nodes, edges, width + 2 * MARGIN, max(height, NODE_H + 2 * MARGIN))


def _layers(order: list[str], targets: Mapping[str, list[str]]) -> list[list[str]]:
    """Longest-path layers (Kahn's order; a cycle, which a valid flow never has, is cut)."""
    incoming = {n: 0 for n in order}
    for name in order:
        for target in targets[name]:
            incoming[target] += 1
    depth = dict.fromkeys(order, 0)
    ready = [n for n in order if incoming[n] == 0]
    seen: set[str] = set()
    while ready:
        name = ready.pop(0)
        seen.add(name)
        for target in targets[name]:
            depth[target] = max(depth[target], depth[name] + 1)
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for name in order:
        layers[depth[name]].append(name)
    return [layer for layer in layers if layer]


def _untangle(layers: list[list[str]], targets: Mapping[str, list[str]]) -> None:
    """Order each layer (in place) by the mean position of its steps' parents."""
    position: dict[str, float] = {}
    parents: dict[str, list[str]] = {}
    for name, children in targets.items():
        for child in children:
            parents.setdefault(child, []).append(name)
    for layer in layers:
        keys = {}
        for index, name in enumerate(layer):
            known = [position[p] for p in parents.get(name, []) if p in position]
            keys[name] = (sum(known) / len(known) if known else float(index), index)
        layer.sort(key=keys.__getitem__)
        position.update({name: float(i) for i, name in enumerate(layer)})


def _edge(source: Node, target: Node) -> str:
    x1, y1 = source.x + NODE_W // 2, source.y + NODE_H
    x2, y2 = target.x + NODE_W // 2, target.y
    if y2 <= y1:  # an edge back up (not in a valid flow): go around the side
        return f"M{x1},{y1} C{x1 + NODE_W},{y1 + GAP_Y} {x2 + NODE_W},{y2 - GAP_Y} {x2},{y2}"
    bend = (y2 - y1) / 2
    return f"M{x1},{y1} C{x1},{y1 + bend:.0f} {x2},{y2 - bend:.0f} {x2},{y2}"
