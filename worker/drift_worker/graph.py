"""A pinned workflow graph: every node resolved to its type and blocks, as the interpreter runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drift.models.nodes import Choice, ScopeBlocks, TypedBlocks
from drift.models.workflow import WorkflowNode, WorkflowSpec
from drift.stored_definition import DefinitionKind, StoredDefinition

from .context_values import ContextLimits


class ResolvedNode(TypedBlocks, ScopeBlocks):
    """A workflow node with its definition merged in: the graph's edges plus one type and its block."""

    name: str
    type: str
    next: str | None = None
    on_error: str | None = None
    choices: list[Choice] = Field(default_factory=list)
    default: str | None = None
    compensate: str | None = None
    ref: str | None = None
    """`{name}_{version}` of the NodeDefinition it came from, if any."""
    child_version: str | None = None
    """A workflow node: the version of the child Workflow, pinned in this workflow's version."""

    @property
    def output_key(self) -> str:
        """Where the node's output goes in the context."""
        return self.output.key if self.output and self.output.key else self.name


def _resolve(node: WorkflowNode, definitions: dict[str, StoredDefinition], children: dict[str, str]) -> ResolvedNode:
    edges: dict[str, Any] = {
        "name": node.name, "next": node.next, "on_error": node.on_error,
        "choices": node.choices, "default": node.default, "compensate": node.compensate,
    }  # fmt: skip
    if node.ref is None:
        blocks = node.model_dump(exclude={"name", "ref", "next", "on_error", "choices", "default", "compensate"})
        return ResolvedNode(**blocks, **edges, child_version=children.get(node.name))
    stored = definitions[node.name]
    spec = stored.node_spec()
    blocks = spec.model_dump(exclude={"description"})
    # A ref node's own output/retry/timeout (given next to `ref` in the workflow) win over the definition's.
    for override in ("output", "retry", "timeout_seconds"):
        if getattr(node, override) is not None:
            blocks[override] = getattr(node, override)
    return ResolvedNode(**blocks, **edges, ref=f"{stored.name}_{stored.version}")


class PinnedGraph(BaseModel):
    """Everything a run needs from its workflow version; immutable for the life of the run."""

    model_config = ConfigDict(frozen=True)

    workflow_name: str
    workflow_version: str
    start_at: str
    on_failure: str | None
    input_schema: dict[str, Any] | None
    nodes: dict[str, ResolvedNode]
    limits: ContextLimits = ContextLimits()

    @classmethod
    def build(
        cls, workflow: StoredDefinition, definitions: dict[str, StoredDefinition], limits: ContextLimits | None = None
    ) -> PinnedGraph:
        """Resolve `workflow` with the node definitions its version pinned, keyed by workflow node name."""
        spec: WorkflowSpec = workflow.workflow_spec()
        return cls(
            workflow_name=workflow.name,
            workflow_version=workflow.version,
            start_at=spec.start_at,
            on_failure=spec.on_failure,
            input_schema=spec.input_schema,
            nodes={node.name: _resolve(node, definitions, workflow.workflow_pins) for node in spec.nodes},
            limits=limits or ContextLimits(),
        )


VersionLookup = Callable[[DefinitionKind, str], Awaitable[StoredDefinition | None]]
"""A stored definition version by kind and `{namespace}/{name}_{version}` (None if there is none)."""


class PinMissing(Exception):
    """A version a run is pinned to is not stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def load_pinned(
    lookup: VersionLookup, namespace: str, name: str, version: str, limits: ContextLimits | None = None
) -> PinnedGraph:
    """The workflow version and every node-definition version it pins, resolved (PinMissing if one is gone)."""
    workflow = await lookup("workflow", f"{namespace}/{name}_{version}")
    if workflow is None:
        raise PinMissing("WORKFLOW_VERSION_NOT_FOUND", f"Workflow {name} version {version} is not in HBase")
    definitions = {}
    for node_name, (ref, pinned) in workflow.pinned_nodes().items():
        node = await lookup("node", f"{namespace}/{ref}_{pinned}")
        if node is None:
            raise PinMissing("NODE_VERSION_NOT_FOUND", f"NodeDefinition {ref} version {pinned} is not in HBase")
        definitions[node_name] = node
    return PinnedGraph.build(workflow, definitions, limits)
