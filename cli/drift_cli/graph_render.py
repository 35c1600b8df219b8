"""`graph`: a workflow as Mermaid, Graphviz DOT or plain text, with a run's node states overlaid."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from drift_worker.graph import PinnedGraph, ResolvedNode
from drift_worker.instances import path_patterns

STATE_COLORS = {
    "Succeeded": ("#d3f9d8", "#2b8a3e"),
    "Failed": ("#ffe3e3", "#c92a2a"),
    "Running": ("#d0ebff", "#1864ab"),
    "Waiting": ("#f3d9fa", "#862e9c"),
}
ASCII_MARKS = {"Succeeded": "[ok]", "Failed": "[FAILED]", "Running": "[running]", "Waiting": "[waiting]"}


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    ascii = "ascii"


def edges(node: ResolvedNode) -> Iterator[tuple[str, str, str]]:
    """(kind, label, target) of every edge leaving `node`: next, choice, default, onError, onTimeout, and the
    scopes it starts (parallel branches, map items, its compensation)."""
    if node.next:
        yield "next", "", node.next
    if node.parallel:
        for branch in node.parallel.branches:
            yield "scope", f"branch {branch.name}", branch.start_at
    if node.map:
        yield "scope", f"each of {node.map.items}", node.map.start_at
    if node.compensate:
        yield "scope", "compensate", node.compensate
    for choice in node.choices:
        yield "choice", choice.when, choice.next
    if node.default:
        yield "default", "otherwise", node.default
    if node.instruction and node.instruction.on_timeout:
        yield "timeout", "on timeout", node.instruction.on_timeout
    if node.on_error:
        yield "error", "onError", node.on_error


def ordered(graph: PinnedGraph) -> list[str]:
    """Nodes in breadth-first order from startAt, then any not reached."""
    seen, queue = [graph.start_at], deque([graph.start_at])
    while queue:
        for _, _, target in edges(graph.nodes[queue.popleft()]):
            if target not in seen and target in graph.nodes:
                seen.append(target)
                queue.append(target)
    if graph.on_failure and graph.on_failure not in seen:
        seen.append(graph.on_failure)
    return seen + [name for name in graph.nodes if name not in seen]


def run_states(status: dict[str, Any]) -> dict[str, str]:
    """node -> its latest state in a run: from status.nodes, and the node running or waiting now."""
    states = {node["name"]: node["phase"] for node in status.get("nodes") or []}
    current, phase = status.get("currentNode"), status.get("phase")
    if current and phase in ("Running", "Waiting"):
        states[current] = phase
    return states


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(graph: PinnedGraph, states: dict[str, str]) -> str:
    names = ordered(graph)
    ids = {name: f"n{index}" for index, name in enumerate(names)}
    lines = ["flowchart TD"]
    for name in names:
        node = graph.nodes[name]
        shape = (
            ('(["', '"])')
            if node.type in ("success", "failure")
            else ('{"', '"}')
            if node.type == "branch"
            else ('["', '"]')
        )
        lines.append(f"  {ids[name]}{shape[0]}{_mermaid_text(name)}<br/><small>{node.type}</small>{shape[1]}")
    lines.append(f"  start((start)) --> {ids[graph.start_at]}")
    for name in names:
        for kind, label, target in edges(graph.nodes[name]):
            arrow = "-.->" if kind in ("error", "timeout") else "==>" if kind == "scope" else "-->"
            text = f'|"{_mermaid_text(label)}"|' if label else ""
            lines.append(f"  {ids[name]} {arrow}{text} {ids[target]}")
    if graph.on_failure:
        lines.append(f'  failures(("any failure")) -.->|"onFailure"| {ids[graph.on_failure]}')
    for state, (fill, stroke) in STATE_COLORS.items():
        members = [ids[name] for name in names if states.get(name) == state]
        if members:
            lines.append(f"  classDef {state.lower()} fill:{fill},stroke:{stroke},stroke-width:2px")
            lines.append(f"  class {','.join(members)} {state.lower()}")
    return "\n".join(lines) + "\n"


def dot(graph: PinnedGraph, states: dict[str, str]) -> str:
    lines = [
        f"digraph {json.dumps(graph.workflow_name)} {{",
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
    ]
    lines.append('  "__start" [shape=circle, label="start", width=0.3];')
    for name in ordered(graph):
        node = graph.nodes[name]
        shape = {"branch": "diamond", "success": "doubleoctagon", "failure": "doubleoctagon"}.get(node.type, "box")
        attributes = [f"label={json.dumps(name + chr(10) + node.type)}", f"shape={shape}"]
        if name in states and states[name] in STATE_COLORS:
            fill, stroke = STATE_COLORS[states[name]]
            attributes += ['style="rounded,filled"', f'fillcolor="{fill}"', f'color="{stroke}"']
        lines.append(f"  {json.dumps(name)} [{', '.join(attributes)}];")
    lines.append(f'  "__start" -> {json.dumps(graph.start_at)};')
    for name in ordered(graph):
        for kind, label, target in edges(graph.nodes[name]):
            attributes = [f"label={json.dumps(label)}"] if label else []
            if kind in ("error", "timeout"):
                attributes.append("style=dashed")
            if kind == "scope":
                attributes.append("style=bold")
            suffix = f" [{', '.join(attributes)}]" if attributes else ""
            lines.append(f"  {json.dumps(name)} -> {json.dumps(target)}{suffix};")
    if graph.on_failure:
        lines.append('  "__failures" [shape=plaintext, label="any failure"];')
        lines.append(f'  "__failures" -> {json.dumps(graph.on_failure)} [style=dotted, label="onFailure"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def ascii_text(graph: PinnedGraph, states: dict[str, str]) -> str:
    names = ordered(graph)
    width = max(len(name) for name in names)
    marks = bool(states)
    header = f"{graph.workflow_name}: start at {graph.start_at}"
    if graph.on_failure:
        header += f", failures go to {graph.on_failure}"
    lines = [header]
    scoped = path_patterns(graph)
    for name in names:
        node = graph.nodes[name]
        mark = f"{ASCII_MARKS.get(states.get(name, ''), '[ ]'):<10}" if marks else ""
        outgoing = list(edges(node))
        first = f"{mark}{name:<{width}}  {node.type:<11}"
        if not outgoing:
            lines.append(f"{first}  (ends {'its scope, ' + scoped[name] if scoped.get(name) else 'the run'})")
            continue
        for index, (kind, label, target) in enumerate(outgoing):
            arrow = {"next": "->", "choice": "-> if", "default": "-> otherwise", "timeout": "-> on timeout",
                     "error": "-> on error", "scope": "=>"}[kind]  # fmt: skip
            condition = f" {label}:" if kind in ("choice", "scope") else ""
            text = f"{arrow}{condition} {target}"
            lines.append(f"{first}  {text}" if index == 0 else f"{' ' * len(first)}  {text}")
    return "\n".join(lines) + "\n"


def render(graph: PinnedGraph, fmt: GraphFormat, states: dict[str, str] | None = None) -> str:
    states = states or {}
    if fmt == GraphFormat.dot:
        return dot(graph, states)
    if fmt == GraphFormat.ascii:
        return ascii_text(graph, states)
    return mermaid(graph, states)
