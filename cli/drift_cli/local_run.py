"""A run's state in memory, for running nodes outside Temporal (`node test`, `simulate`).

The in-memory half of the worker's `MainPath` protocol (drift_worker.interpreter): the input, the context,
the error being handled and the completed compensable nodes. What differs between the commands (http for
real or stubbed, time real or simulated, how input is waited for) is theirs.
"""

from __future__ import annotations

from typing import Any

from drift.models.run import RunError
from drift_worker.graph import ResolvedNode
from drift_worker.nodes import Outcome
from drift_worker.nodes.base import node_updates, run_scope
from drift_worker.scopes import Compensable


class LocalRun:
    """Input, context, error and compensable nodes of one run held in memory."""

    def __init__(self, namespace: str, run_input: dict[str, Any], context: dict[str, Any] | None = None) -> None:
        self._namespace = namespace
        self.input = run_input
        self.context: dict[str, Any] = dict(context or {})
        self.error: RunError | None = None
        self.compensable: list[Compensable] = []
        self.order = 0

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def run_input(self) -> dict[str, Any]:
        return self.input

    def scope(self, **extra: Any) -> dict[str, Any]:
        return run_scope(self.input, self.context, self.error, **extra)

    def next_order(self) -> int:
        self.order += 1
        return self.order

    async def prepare(self, node: ResolvedNode) -> None:
        """The whole context is in memory: nothing to load."""

    async def store(self, node: ResolvedNode, outcome: Outcome) -> None:
        self.context.update(node_updates(node, outcome, self.scope))
