"""The pipeline graph as hand-laid SVG: step names are real `<text>` (selectable, found by
search, readable by screen readers), and each edge says how many tasks went along it.

Layout: columns left to right by the longest path from the input, steps in a column in
plan order; edges are curves from a step's right side to the next one's left side.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from fanflow.report._model import INPUT_NODE, RunGraph

__all__ = ["edge_counts", "graph_svg"]

NODE_HEIGHT = 54
ROW_GAP = 30
COLUMN_GAP = 130  # room for an edge's label
CHAR_WIDTH = 8.2  # of the 14px node font, to size boxes without measuring text
MARGIN = 16


@dataclass(slots=True)
class _Node:
    name: str
    caption: str
    column: int
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0


def edge_counts(
    graph: RunGraph, tasks: dict[str, int], ok: dict[str, int]
) -> dict[tuple[str, str], int]:
    """Tasks that went along each edge: into an ordinary step, each of its tasks came from
    its parent; into a join, each ok result of a branch gave the join one value."""
    counts = {(INPUT_NODE, step): tasks.get(step, 0) for step in _roots(graph)}
    for source, target in graph.edges:
        join = len(graph.parents(target)) > 1
        counts[(source, target)] = ok.get(source, 0) if join else tasks.get(target, 0)
    return counts


def graph_svg(graph: RunGraph, counts: dict[tuple[str, str], int], captions: dict[str, str]) -> str:
    nodes = _layout(graph, captions)
    width = max(node.x + node.width for node in nodes.values()) + MARGIN
    height = max(node.y + NODE_HEIGHT for node in nodes.values()) + MARGIN
    parts = [
        f'<svg class="graph" role="img" '
        f'aria-label="pipeline graph" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#667"/></marker></defs>',
    ]
    for (source, target), count in counts.items():
        label = graph.flows.get(source, "") if source != INPUT_NODE else ""
        parts.append(_edge(nodes[source], nodes[target], count, label))
    parts += [_node(node) for node in nodes.values()]
    parts.append("</svg>")
    return "\n".join(parts)


def _roots(graph: RunGraph) -> list[str]:
    targets = {target for _, target in graph.edges}
    return [step for step in graph.steps if step not in targets]


def _layout(graph: RunGraph, captions: dict[str, str]) -> dict[str, _Node]:
    nodes = {INPUT_NODE: _Node(INPUT_NODE, "rows", 0)}
    for step in graph.steps:  # plan order: parents come first
        parents = graph.parents(step) or [INPUT_NODE]
        column = 1 + max(nodes[parent].column for parent in parents if parent in nodes)
        nodes[step] = _Node(step, captions.get(step, ""), column)
    columns: dict[int, list[_Node]] = {}
    for node in nodes.values():
        node.width = max(110.0, CHAR_WIDTH * max(len(node.name), len(node.caption) * 0.85) + 28)
        columns.setdefault(node.column, []).append(node)
    tallest = max(len(column) for column in columns.values())
    full_height = tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
    x = float(MARGIN)
    for number in sorted(columns):
        stacked = columns[number]
        own_height = len(stacked) * NODE_HEIGHT + (len(stacked) - 1) * ROW_GAP
        y = MARGIN + (full_height - own_height) / 2
        for node in stacked:
            node.x, node.y = x, y
            y += NODE_HEIGHT + ROW_GAP
        x += max(node.width for node in stacked) + COLUMN_GAP
    return nodes


def _node(node: _Node) -> str:
    kind = "input" if node.name == INPUT_NODE else "step"
    middle = node.x + node.width / 2
    name = escape(node.name)
    return (
        f'<g class="node {kind}" data-step="{name}">'
        f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.width:.1f}" '
        f'height="{NODE_HEIGHT}" rx="8"/>'
        f'<text class="step-name" x="{middle:.1f}" y="{node.y + 22:.1f}" '
        f'text-anchor="middle">{name}</text>'
        f'<text class="step-caption" x="{middle:.1f}" y="{node.y + 41:.1f}" '
        f'text-anchor="middle">{escape(node.caption)}</text></g>'
    )


def _edge(source: _Node, target: _Node, count: int, label: str) -> str:
    x1, y1 = source.x + source.width, source.y + NODE_HEIGHT / 2
    x2, y2 = target.x - 2, target.y + NODE_HEIGHT / 2
    bend = (x2 - x1) / 2
    curve = f"{x1 + bend:.1f} {y1:.1f}, {x2 - bend:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}"
    path = f"M {x1:.1f} {y1:.1f} C {curve}"
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    flow = (
        f'<text class="edge-flow" x="{mx:.1f}" y="{my + 14:.1f}" text-anchor="middle">'
        f"{escape(label)}</text>"
        if label
        else ""
    )
    return (
        f'<g class="edge" data-from="{escape(source.name)}" data-to="{escape(target.name)}" '
        f'data-tasks="{count}"><path d="{path}" marker-end="url(#arrow)"/>'
        f'<text class="edge-count" x="{mx:.1f}" y="{my - 5:.1f}" text-anchor="middle">'
        f"{count:,}</text>{flow}</g>"
    )
