"""A run's whole node timeline, from its Temporal history, through Drift's own interpreter.

The status keeps the last 50 node executions. The rest is recovered by replaying the run's history (every
execution of its continue-as-new chain) with the worker's `DriftRunWorkflow` and Temporal's Replayer: the
interpreter runs again deterministically, activities are not called, and every node execution it records
is seen where it hands it to a progress persist (`ProgressUpdate.completed`: the executions since the run's
last persist; several when pure nodes shared one). No table is scanned.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartLocalActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from drift_worker.messages import ProgressUpdate
from drift_worker.workflow import DriftRunWorkflow

from .cli_errors import CliError
from .temporal_access import temporal_client

PERSIST_ACTIVITY = "drift.persist_progress"


class _Collector(Interceptor):
    """Sees every progress persist the replayed interpreter starts and keeps the completed node executions."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        collector = self

        class Outbound(WorkflowOutboundInterceptor):
            def start_local_activity(self, input: StartLocalActivityInput):
                if input.activity == PERSIST_ACTIVITY and input.args:
                    update = input.args[0]
                    if isinstance(update, ProgressUpdate):
                        collector.nodes.extend(
                            node.execution.model_dump(mode="json", by_alias=True, exclude_none=True)
                            for node in update.completed
                        )
                return super().start_local_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


async def _histories(client: Client, workflow_id: str, run_id: str | None) -> list[WorkflowHistory]:
    """The histories of the run's chain of executions, first to newest."""
    histories = []
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1] if history.events else None
        if last is None or not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return histories
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


async def _timeline(workflow_id: str, run_id: str | None) -> list[dict[str, Any]]:
    client = await temporal_client()
    try:
        histories = await _histories(client, workflow_id, run_id)
    except RPCError as exc:
        raise CliError(f"Temporal history of {workflow_id}: {exc.message}") from None
    return await replayed_nodes(histories, client.data_converter)


async def replayed_nodes(histories: list[WorkflowHistory], data_converter: DataConverter) -> list[dict[str, Any]]:
    """Every node execution the interpreter records replaying a chain of histories (first to newest); up to the
    first that does not replay (a history from an older interpreter)."""
    collector = _Collector()
    replayer = Replayer(
        workflows=[DriftRunWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
        data_converter=data_converter,
        interceptors=[collector],
    )
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            break
    return collector.nodes


def full_timeline(workflow_id: str, run_id: str | None) -> list[dict[str, Any]]:
    """Every node execution of the run, oldest first (camelCase, like status.nodes)."""
    return asyncio.run(_timeline(workflow_id, run_id))
