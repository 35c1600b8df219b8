"""What Temporal says about a run's execution: its close status, its result or its `snapshot` query.

Shared by the operator (a WorkflowRun's status) and `kubectl drift runs --trigger` (runs that have no
WorkflowRun).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
)
from temporalio.converter import DataConverter, WorkflowSerializationContext
from temporalio.service import RPCError

from drift.models.run import FINAL_PHASES, Phase
from drift.run_contract import QUERY_SNAPSHOT, RunSnapshot

log = logging.getLogger(__name__)
QUERY_TIMEOUT = timedelta(seconds=5)
CLOSED_PHASES: dict[str, tuple[Phase, str]] = {
    "FAILED": ("Failed", "Failed"),
    "TIMED_OUT": ("TimedOut", "TimedOut"),
    "CANCELED": ("Cancelled", "Cancelled"),
    "TERMINATED": ("Failed", "Terminated"),
}
"""Temporal close status -> (phase, reason); COMPLETED takes the result snapshot's phase."""


CLOSE_EVENT_PREFIX = "EVENT_TYPE_WORKFLOW_EXECUTION_"
"""A close event's type is this prefix and the close status's name (EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT)."""


def handle(client: Client, workflow_id: str, run_id: str | None = None) -> WorkflowHandle[object, RunSnapshot]:
    """The run's execution: `run_id`'s, else the newest in its continue-as-new chain."""
    return client.get_workflow_handle(workflow_id, run_id=run_id, result_type=RunSnapshot)


@dataclass(frozen=True)
class Execution:
    """What Temporal says about a run's execution."""

    closed: str | None
    """Close status name, None while running."""
    closed_at: datetime | None
    snapshot: RunSnapshot | None
    """The result (COMPLETED), or the `snapshot` query's answer when asked for and a worker answered."""
    detail: str | None
    """The failure of a FAILED execution."""


def closed_phase(closed: str, snapshot: RunSnapshot | None) -> tuple[Phase, str]:
    """(phase, reason) of a closed execution: by its close status, or a COMPLETED one's result (a run that
    ends in a failure node completes with phase Failed)."""
    if closed in CLOSED_PHASES:
        return CLOSED_PHASES[closed]
    phase: Phase = snapshot.phase if snapshot and snapshot.phase in FINAL_PHASES else "Succeeded"
    return phase, phase


async def query_snapshot(client: Client, workflow_id: str) -> RunSnapshot | None:
    """The running execution's `snapshot` query; None if no worker answers."""
    try:
        return await handle(client, workflow_id).query(
            QUERY_SNAPSHOT, result_type=RunSnapshot, rpc_timeout=QUERY_TIMEOUT
        )
    except (RPCError, WorkflowQueryFailedError, TimeoutError) as exc:
        log.info("snapshot query of %s not answered: %s", workflow_id, exc)
        return None


async def observe(client: Client, workflow_id: str, query: bool) -> Execution:
    """Describe the execution; for a closed one read its result, for a running one query it if `query`."""
    run = handle(client, workflow_id)
    description = await run.describe()
    status = description.status
    if status in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return Execution(None, None, await query_snapshot(client, workflow_id) if query else None, None)
    snapshot, detail = None, None
    if status == WorkflowExecutionStatus.COMPLETED:
        snapshot = await run.result(follow_runs=False)
    elif status == WorkflowExecutionStatus.FAILED:
        try:
            await run.result(follow_runs=False)
        except WorkflowFailureError as exc:
            detail = str(exc.cause or exc)
    return Execution(status.name, description.close_time, snapshot, detail)


async def await_close(client: Client, workflow_id: str, seconds: float) -> Execution | None:
    """The execution's close, waited for up to `seconds` (Temporal's long poll for its close event, answered the
    moment it is recorded; the event carries all `observe` would read); None if it is still open then."""
    events = handle(client, workflow_id).fetch_history_events(
        wait_new_event=True, event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    )
    try:
        async with asyncio.timeout(seconds):
            event = await anext(events, None)
    except TimeoutError:
        return None
    if event is None:
        return None
    context = WorkflowSerializationContext(namespace=client.namespace, workflow_id=workflow_id)
    return await closed_by(event, client.data_converter.with_context(context))


async def closed_by(event: HistoryEvent, converter: DataConverter) -> Execution:
    """The execution its close event ends, decoded as `WorkflowHandle.result` decodes it: a COMPLETED one's result,
    a FAILED one's failure (rendered as `observe` renders it). Continued as new, the run goes on: not closed."""
    status = WorkflowExecutionStatus[EventType.Name(event.event_type).removeprefix(CLOSE_EVENT_PREFIX)]
    if status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
        return Execution(None, None, None, None)
    snapshot, detail = None, None
    if status == WorkflowExecutionStatus.COMPLETED:
        results = await converter.decode_wrapper(
            event.workflow_execution_completed_event_attributes.result, [RunSnapshot]
        )
        snapshot = results[0] if results else None
    elif status == WorkflowExecutionStatus.FAILED:
        detail = str(await converter.decode_failure(event.workflow_execution_failed_event_attributes.failure))
    return Execution(status.name, event.event_time.ToDatetime().replace(tzinfo=UTC), snapshot, detail)
