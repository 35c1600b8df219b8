"""One step of Drift's interpreter: run a node's handler, store its outcome, follow its edge or its failure.

The semantics are DriftRunWorkflow._interpret's (worker/drift_worker/workflow.py), written as a function of
the graph, the node and a runtime holding `context` and `error`, so the worker can later call it too:
the workflow object already has both attributes and implements the same Runtime protocol. What the worker
adds around a step (persisting, continue-as-new, timestamps in history) stays outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from drift.models.run import RunError
from drift_worker.graph import PinnedGraph, ResolvedNode
from drift_worker.nodes import HANDLERS, NodeFailed, Runtime
from drift_worker.nodes.base import node_updates


class SteppingRuntime(Runtime, Protocol):
    """A Runtime whose run state the step updates: the context and the error being handled."""

    context: dict[str, Any]
    error: RunError | None


@dataclass(frozen=True)
class Step:
    """What one node execution did and where the run goes next."""

    node: ResolvedNode
    phase: Literal["Succeeded", "Failed"]
    attempts: int
    message: str | None = None
    """`code: message` of a failed node."""
    next: str | None = None
    """The node to run next (the handler of a failure included); None when the run ends."""
    end: Literal["Succeeded", "Failed"] | None = None
    output: Any = None
    error: RunError | None = None
    """The run's error when it ends Failed."""
    end_message: str | None = None


async def step(graph: PinnedGraph, node: ResolvedNode, runtime: SteppingRuntime) -> Step:
    """Run `node`; on failure go to its onError, else the workflow's onFailure, else end the run Failed."""
    try:
        outcome = await HANDLERS[node.type](node, runtime)
        runtime.context.update(node_updates(node, outcome, runtime.scope))
    except NodeFailed as failed:
        message = f"{failed.code}: {failed.message}"
        error = RunError(node=node.name, code=failed.code, message=failed.message)
        handler = node.on_error or graph.on_failure
        if handler is None or handler == node.name or node.type == "failure":
            return Step(node, "Failed", failed.attempts, message, end="Failed", error=error, end_message=error.message)
        runtime.error = error
        return Step(node, "Failed", failed.attempts, message, next=handler)
    if outcome.end:
        return Step(node, "Succeeded", outcome.attempts, end=outcome.end, output=outcome.run_output,
                    error=outcome.run_error, end_message=outcome.message)  # fmt: skip
    return Step(node, "Succeeded", outcome.attempts, next=outcome.next)
