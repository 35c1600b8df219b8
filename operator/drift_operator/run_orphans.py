"""Executions whose WorkflowRun is gone are terminated: on the run's DELETED event, and by a periodic sweep.

WorkflowRuns carry no finalizer: kopf's cost two API writes a run and held every delete until the operator
answered (forever while it was away). Deleting an unfinished run terminates its execution when the operator
sees the DELETED event (`retire`). A run deleted while the operator was away, or whose termination failed, is
found by the sweep: every `orphan_sweep_seconds` (the first 30 s after start) it lists the open `DriftRun`
executions that carry a WorkflowRun's own id (`{namespace}/{name}/{uid}`: sub-workflows and triggers' runs
have other ids) and terminates each whose run is neither held nor still there with that uid.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import aiohttp
from temporalio.service import RPCError

from drift.errors import BackendUnavailable
from drift.kube_client import KubeError
from drift.models.resources import WORKFLOW_RUN
from drift.run_contract import WORKFLOW_TYPE

from . import executions
from .clients import Services

log = logging.getLogger(__name__)
FIRST_SWEEP_SECONDS = 30.0
REASON = "WorkflowRun deleted"


def run_of(workflow_id: str, namespace: str | None) -> tuple[str, str, str] | None:
    """(namespace, name, uid) of the WorkflowRun whose own execution this is; None for other ids, and for runs
    outside `namespace` when one is watched (pure)."""
    parts = workflow_id.split("/")
    if len(parts) != 3 or (namespace and parts[0] != namespace):
        return None
    try:
        uuid.UUID(parts[2])
    except ValueError:
        return None
    return parts[0], parts[1], parts[2]


async def retire(services: Services, workflow_id: str, *, started: bool) -> None:
    """Terminate the execution of a deleted run (harmless if it closed or never began); when it had started,
    record the end beside its context (retention goes by it)."""
    await executions.terminate(services.temporal, workflow_id, REASON)
    if started:
        await services.cache.store.mark_context_finished(workflow_id, datetime.now(UTC))


class OrphanSweep:
    """Terminates the open executions of deleted runs (run until cancelled)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self) -> None:
        interval = self.services.settings.orphan_sweep_seconds
        await asyncio.sleep(min(FIRST_SWEEP_SECONDS, interval))
        while True:
            try:
                retired = await self.sweep()
                if retired:
                    log.info("terminated %d executions whose WorkflowRun was deleted", retired)
            except (RPCError, BackendUnavailable, KubeError, aiohttp.ClientError, OSError) as exc:
                log.warning("orphan sweep failed (%s); next in %.0fs", exc, interval)
            await asyncio.sleep(interval)

    async def sweep(self) -> int:
        """One pass: how many executions it terminated."""
        namespace = self.services.settings.watch_namespace
        query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"
        if namespace:
            query += f' AND WorkflowId STARTS_WITH "{namespace}/"'
        retired = 0
        async for execution in self.services.temporal.list_workflows(query):
            run = run_of(execution.id, namespace)
            if run is None or self.services.runs.get(execution.id) is not None:
                continue
            found = await self.services.kube.get(WORKFLOW_RUN.plural, run[0], run[1])
            if found is not None and found["metadata"]["uid"] == run[2]:
                continue
            await retire(self.services, execution.id, started=True)
            retired += 1
        return retired
