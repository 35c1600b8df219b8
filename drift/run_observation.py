"""What Temporal says about a run's execution: its close status, its result or its `snapshot` query.

Shared by the operator (a WorkflowRun's status) and `kubectl drift runs --trigger` (runs that have no
WorkflowRun).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
)
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


def handle(client: Client, workflow_id: str) -> WorkflowHandle[object, RunSnapshot]:
    """The run's execution (the newest in its continue-as-new chain)."""
    return client.get_workflow_handle(workflow_id, result_type=RunSnapshot)


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


async def observe(client: Client, workflow_id: str, query: bool) -> Execution:
    """Describe the execution; for a closed one read its result, for a running one query it if `query`."""
    run = handle(client, workflow_id)
    description = await run.describe()
    status = description.status
    if status in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        snapshot = None
        if query:
            try:
                snapshot = await run.query(QUERY_SNAPSHOT, result_type=RunSnapshot, rpc_timeout=QUERY_TIMEOUT)
            except (RPCError, WorkflowQueryFailedError, TimeoutError) as exc:
                log.info("snapshot query of %s not answered: %s", workflow_id, exc)
        return Execution(None, None, snapshot, None)
    snapshot, detail = None, None
    if status == WorkflowExecutionStatus.COMPLETED:
        snapshot = await run.result(follow_runs=False)
    elif status == WorkflowExecutionStatus.FAILED:
        try:
            await run.result(follow_runs=False)
        except WorkflowFailureError as exc:
            detail = str(exc.cause or exc)
    return Execution(status.name, description.close_time, snapshot, detail)


async def wait_closed(client: Client, workflow_id: str, seconds: float) -> bool:
    """Whether the execution closes within `seconds`: Temporal's long poll for its close event, answered the
    moment it is recorded (no polling interval)."""
    events = handle(client, workflow_id).fetch_history_events(
        wait_new_event=True, event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    )
    try:
        async with asyncio.timeout(seconds):
            async for _ in events:
                return True
    except TimeoutError:
        return False
    return False
