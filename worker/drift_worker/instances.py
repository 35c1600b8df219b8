"""Instance paths: where each node's instances run, and which one a `spec.resume` entry addresses.

A node on the main path has one instance (path None). A node in a parallel branch runs at
`{parallel node}/{branch}`, in a map item at `{map node}[{index}]`, in a compensation at
`compensate.{node}`, nested with `/` (`checks/credit/lookups[3]`). Pure and deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from drift.run_contract import ResumeRequest
from drift.validation import edges_of, reachable

from .cursors import Cursors
from .graph import PinnedGraph, ResolvedNode

ANY_INDEX = "[*]"


def _segments(node: ResolvedNode) -> Iterator[tuple[str, str]]:
    """(path segment, first node) of every scope the node starts."""
    if node.parallel:
        for branch in node.parallel.branches:
            yield f"{node.name}/{branch.name}", branch.start_at
    if node.map:
        yield f"{node.name}{ANY_INDEX}", node.map.start_at
    if node.compensate:
        yield f"compensate.{node.name}", node.compensate


def path_patterns(graph: PinnedGraph) -> dict[str, str | None]:
    """Node name -> the path pattern of its instances: None on the main path, `notify[*]` in a map item."""
    edges = {name: {target for _, target in edges_of(node)} for name, node in graph.nodes.items()}
    main = reachable({graph.start_at, *([graph.on_failure] if graph.on_failure else [])}, edges)
    patterns: dict[str, str | None] = dict.fromkeys(main)
    pending: list[str] = list(main)
    while pending:
        name = pending.pop()
        for segment, first in _segments(graph.nodes[name]):
            path = f"{patterns[name]}/{segment}" if patterns[name] else segment
            for member in reachable({first}, edges) - patterns.keys():
                patterns[member] = path
                pending.append(member)
    return patterns


def _matches(pattern: str, path: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(re.escape(ANY_INDEX), r"\[[0-9]+\]"), path) is not None


def resume_key(
    patterns: dict[str, str | None], cursors: Cursors, request: ResumeRequest
) -> tuple[str | None, str | None]:
    """(the pending-input key the entry goes to, None) or (None, why the entry is refused); `patterns` are
    the graph's `path_patterns`."""
    where = f'resume[{request.index}]: instruction "{request.node}"'
    pattern = patterns.get(request.node)
    if pattern is None:
        return (None, f"{where} runs on the main path: give no path") if request.path else (request.node, None)
    if request.path:
        if _matches(pattern, request.path):
            return f"{request.path}:{request.node}", None
        example = pattern.replace(ANY_INDEX, "[0]")
        return None, f'{where} has no instance at "{request.path}": its instances run at paths like {example}'
    if ANY_INDEX not in pattern:
        return f"{pattern}:{request.node}", None
    waiting = [path for path, node in cursors.waiting if node == request.node]
    if len(waiting) == 1:
        return f"{waiting[0]}:{request.node}", None
    example = waiting[0] if waiting else pattern.replace(ANY_INDEX, "[0]")
    return None, f"{where} has {len(waiting)} instances waiting: give a path such as {example}"
