"""One step of the main path: run a node, store its outcome, decide where the run goes next.

The semantics of a run's main path in one place, shared by the DriftRun workflow (which adds persisting,
timestamps in history and continue-as-new around each step) and by `kubectl drift simulate` (which steps a
workflow over stubbed answers). A node failure goes to the node's `onError`, else the workflow's
`onFailure`, else ends the run Failed; when the run fails, the completed compensable nodes are undone first
(not when the node's own `onError` handles the failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from drift.models.run import RunError

    from .graph import PinnedGraph, ResolvedNode
    from .nodes import HANDLERS, NodeFailed, Outcome, Runtime
    from .nodes.base import NO_RESULT
    from .scopes import Compensable


class MainPath(Runtime, Protocol):
    """A Runtime that keeps the main path's state: the error being handled and the compensable nodes."""

    error: RunError | None
    compensable: list[Compensable]

    def next_order(self) -> int: ...

    async def prepare(self, node: ResolvedNode) -> None:
        """Before the node runs (the worker loads the stored context values it names)."""

    async def store(self, node: ResolvedNode, outcome: Outcome) -> None:
        """Put the node's output and direct updates into the context."""

    async def compensate(self, error: RunError | None) -> None:
        """Undo the completed compensable nodes, the latest first; they are then done with."""


@dataclass(frozen=True)
class Step:
    """What one node execution did and where the run goes next."""

    node: ResolvedNode
    phase: Literal["Succeeded", "Failed"]
    attempts: int
    finished_at: datetime
    """When the node ended (before any compensation it set off)."""
    message: str | None = None
    """`code: message` of a failed node."""
    next: str | None = None
    """The node to run next (the handler of a failure included); None when the run ends."""
    end: Literal["Succeeded", "Failed"] | None = None
    output: Any = None
    error: RunError | None = None
    """The run's error when it ends Failed."""
    end_message: str | None = None


async def step(graph: PinnedGraph, node: ResolvedNode, runtime: MainPath) -> Step:
    """Run `node` on the main path and return where the run goes next."""
    try:
        await runtime.prepare(node)
        outcome = await HANDLERS[node.type](node, runtime)
        await runtime.store(node, outcome)
    except NodeFailed as failed:
        finished_at = runtime.now()
        message = f"{failed.code}: {failed.message}"
        error = RunError(node=node.name, path=failed.path, code=failed.code, message=failed.message)
        handler = node.on_error or graph.on_failure
        if runtime.compensable and not node.on_error:
            await runtime.compensate(error)
        if handler is None or handler == node.name or node.type == "failure":
            return Step(node, "Failed", failed.attempts, finished_at, message, end="Failed", error=error,
                        end_message=error.message)  # fmt: skip
        runtime.error = error
        return Step(node, "Failed", failed.attempts, finished_at, message, next=handler)
    finished_at = runtime.now()
    if node.compensate:
        result = None if outcome.result is NO_RESULT else outcome.result
        runtime.compensable.append(Compensable(order=runtime.next_order(), node=node.name, path=None,
                                               start_at=node.compensate, result=result))  # fmt: skip
    if outcome.end == "Failed" and runtime.compensable:
        await runtime.compensate(outcome.run_error)
    if outcome.end:
        return Step(node, "Succeeded", outcome.attempts, finished_at, end=outcome.end, output=outcome.run_output,
                    error=outcome.run_error, end_message=outcome.message)  # fmt: skip
    return Step(node, "Succeeded", outcome.attempts, finished_at, next=outcome.next)
