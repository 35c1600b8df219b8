"""Temporal calls of the operator, per drift.run_contract (the operator <-> worker contract)."""

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
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from drift import run_start
from drift.run_contract import (
    QUERY_SNAPSHOT,
    UPDATE_RESUME,
    ResumeRequest,
    RunSnapshot,
    RunStart,
    resume_update_id,
)

from .operator_settings import OperatorSettings

log = logging.getLogger(__name__)
QUERY_TIMEOUT = timedelta(seconds=5)


def handle(client: Client, workflow_id: str) -> WorkflowHandle[object, RunSnapshot]:
    """The run's execution (the newest in its continue-as-new chain)."""
    return client.get_workflow_handle(workflow_id, result_type=RunSnapshot)


async def start(
    client: Client, settings: OperatorSettings, workflow_id: str, run: RunStart, timeout_seconds: int | None
) -> str | None:
    """Start the run's execution once; the run id (also when it had been started before)."""
    run_id = await run_start.start(client, settings.temporal.task_queue, workflow_id, run, timeout_seconds)
    if run_id is not None:
        return run_id
    log.info("execution %s was started before", workflow_id)
    description = await handle(client, workflow_id).describe()
    return description.run_id


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


async def resume(client: Client, workflow_id: str, request: ResumeRequest, wait_seconds: float) -> str | None:
    """Deliver one resume entry (update id resume-{i}: at most once); None if accepted, else the refusal.

    Raises TimeoutError when no worker answered in time (delivery is retried later, same id).
    """
    try:
        async with asyncio.timeout(wait_seconds):
            await handle(client, workflow_id).execute_update(UPDATE_RESUME, request, id=resume_update_id(request.index))
    except WorkflowUpdateFailedError as exc:
        return str(exc.cause or exc)
    return None


async def cancel(client: Client, workflow_id: str) -> None:
    """Request cancellation (the run ends CANCELED); harmless if already requested or closed."""
    try:
        await handle(client, workflow_id).cancel()
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.FAILED_PRECONDITION):
            raise


async def terminate(client: Client, workflow_id: str, reason: str) -> None:
    """Terminate a running execution; harmless if it has closed or never existed."""
    try:
        await handle(client, workflow_id).terminate(reason=reason)
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
