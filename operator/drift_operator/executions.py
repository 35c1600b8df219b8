"""Temporal calls of the operator, per drift.run_contract (the operator <-> worker contract)."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from drift import run_start
from drift.run_contract import UPDATE_RESUME, ResumeRequest, RunStart, resume_update_id
from drift.run_observation import handle

from .operator_settings import OperatorSettings

log = logging.getLogger(__name__)


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
