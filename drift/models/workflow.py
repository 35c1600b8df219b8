"""The Workflow kind: a versioned graph of nodes."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from .base import ApiModel
from .common import DefinitionRef, NodeName
from .nodes import TERMINAL_TYPES, Choice, NodeType, ScopeBlocks, TypedBlocks

MAX_NODES = 256


class WorkflowNode(TypedBlocks, ScopeBlocks):
    """A node of the graph: a NodeDefinition by `ref`, or inline with `type` and that type's block."""

    name: NodeName
    """Unique name in the workflow; the default context key of the node's output."""
    ref: DefinitionRef | None = None
    """A NodeDefinition in the same namespace (`version` pins one)."""
    type: NodeType | None = None
    """Inline node type: http, script, processor, instruction, wait, success, failure, branch, parallel, map or
    workflow."""
    next: NodeName | None = None
    """Node to run after this one (not for branch, success and failure nodes)."""
    on_error: NodeName | None = None
    """Node to go to when this node fails after its last attempt."""
    choices: list[Choice] = Field(default_factory=list, max_length=64)
    """Branch only: conditions tried in order."""
    default: NodeName | None = None
    """Branch only: node to go to when no choice holds."""
    compensate: NodeName | None = None
    """First node of the compensation that undoes this node if the run (or its scope) fails later."""

    @model_validator(mode="after")
    def _shape(self) -> WorkflowNode:
        if (self.ref is None) == (self.type is None):
            raise ValueError("give exactly one of ref and type")
        self.check_blocks(self.type)
        self.check_scope_blocks(self.type)
        if self.type == "branch" and not self.choices:
            raise ValueError("a branch needs at least one choice")
        if self.type != "branch" and (self.choices or self.default):
            raise ValueError("choices and default are for branch nodes only")
        if self.type in (*TERMINAL_TYPES, "branch") and self.next:
            raise ValueError(f"a {self.type} node has no next")
        return self


class WorkflowSpec(ApiModel):
    """A state machine of nodes, run by a WorkflowRun."""

    start_at: NodeName
    """The first node."""
    on_failure: NodeName | None = None
    """Global failure node: where a failing node without onError goes (predecessor: defaultFailureNode)."""
    timeout_seconds: int | None = Field(default=None, ge=1, le=31_536_000)
    """A run still going after this many seconds ends as TimedOut."""
    input_schema: dict[str, Any] | None = None
    """JSON Schema (2020-12) the run input must satisfy."""
    nodes: list[WorkflowNode] = Field(min_length=1, max_length=MAX_NODES)
    """The nodes; names are unique."""

    def node(self, name: str) -> WorkflowNode | None:
        """The node called `name`."""
        return next((node for node in self.nodes if node.name == name), None)
