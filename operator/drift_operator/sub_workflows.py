"""Sub-workflow refs of a Workflow: each pinned to a stored version, and no cycle through them."""

from __future__ import annotations

from drift.cache.definition_cache import DefinitionCache
from drift.models.workflow import WorkflowSpec
from drift.stored_definition import StoredDefinition
from drift.validation import Problem

MAX_DEPTH = 32
"""Sub-workflows nest at most this deep (a deeper chain is refused like a cycle)."""


async def pin_children(cache: DefinitionCache, namespace: str, spec: WorkflowSpec) -> dict[str, StoredDefinition]:
    """Workflow node name -> the child Workflow version it runs (its pinned version, else the latest)."""
    children = {}
    for node in spec.nodes:
        if node.workflow is not None:
            ref = node.workflow.ref
            found = await cache.get("workflow", namespace, ref.name, ref.version)
            if found is not None:
                children[node.name] = found
    return children


async def cycle_problem(
    cache: DefinitionCache, namespace: str, name: str, children: dict[str, StoredDefinition]
) -> Problem | None:
    """A WorkflowCycle problem if running `name`'s children can lead back to `name` (or nest too deep)."""
    pending = [(node, child, [name, child.name]) for node, child in children.items()]
    while pending:
        node, current, chain = pending.pop()
        if current.name == name or len(chain) > MAX_DEPTH:
            return Problem(
                "WorkflowCycle", f'node "{node}": workflow.ref: sub-workflows run in a cycle: {" -> ".join(chain)}'
            )
        for child_node, version in current.workflow_pins.items():
            child_name = current.workflow_spec().node(child_node).workflow.ref.name  # type: ignore[union-attr]
            child = await cache.version("workflow", f"{namespace}/{child_name}_{version}")
            if child is not None:
                pending.append((node, child, [*chain, child.name]))
    return None
