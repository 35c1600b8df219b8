"""The DriftMapBatch workflow: one batch of a large map's items, run as a child of the DriftRun workflow.

A map over more than ITEMS_PER_WORKFLOW items runs its items in batches, so no single history, workflow
memory or status grows with the list (Step Functions' distributed map does the same). A batch has no context
row and no status of its own: the parent shows the map's progress batch by batch. An instruction inside such
an item cannot be resumed (the item fails with INSTRUCTION_IN_BATCH); compensations inside an item run when
the item itself fails.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .activity_api import RunActivities
    from .cursors import Cursors, MapCounter
    from .graph import ResolvedNode
    from .nodes import NodeFailed
    from .scopes import MAP_BATCH_TYPE, ItemFailure, MapBatch, MapBatchResult, Pacer, ScopeRun, TemporalHost, map_items

CHECKPOINT = timedelta(seconds=10)
"""Start-to-close timeout of a batch's checkpoint (a no-op local activity: it has no progress to persist)."""


@workflow.defn(name=MAP_BATCH_TYPE)
class MapBatchWorkflow(TemporalHost):
    """Runs `MapBatch.items` through the map node's item scope; the scope `Host` of its items."""

    @workflow.init
    def __init__(self, batch: MapBatch) -> None:
        self.batch = batch
        self.graph = batch.graph
        self.cursors = Cursors()
        self.order = 0
        self.pacer = Pacer()

    @property
    def namespace(self) -> str:
        return self.batch.namespace

    @property
    def run_input(self) -> dict[str, Any]:
        return self.batch.run_input

    def changed(self) -> None:
        """A batch publishes nothing: its parent shows the map's progress."""

    def next_order(self) -> int:
        self.order += 1
        return self.order

    async def pace(self) -> None:
        await self.pacer.pace(
            lambda: workflow.execute_local_activity_method(RunActivities.checkpoint, start_to_close_timeout=CHECKPOINT)
        )

    async def wait_at(self, path: str | None, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        raise NodeFailed("INSTRUCTION_IN_BATCH", f"instruction {node.name} cannot wait inside a map of over "
                         "1,000 items")  # fmt: skip

    @workflow.run
    async def run(self, batch: MapBatch) -> MapBatchResult:
        parent = ScopeRun(self, batch.path, batch.context, batch.extra)
        node = self.graph.nodes[batch.node]
        counter = MapCounter(len(batch.items))
        results, failures = await map_items(
            parent, node, batch.items, offset=batch.offset, tolerated=batch.tolerated, progress=counter
        )
        return MapBatchResult(results=results, failures=[ItemFailure(index=i, error=e) for i, e in failures])
