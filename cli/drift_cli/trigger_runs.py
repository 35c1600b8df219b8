"""`kubectl drift runs --trigger NAME`: a WorkflowTrigger's runs, recorded as WorkflowRuns or not.

A trigger's runs are Temporal executions first (most are never WorkflowRuns, see docs/api.md), so they are
listed from Temporal's visibility store by their workflow id prefix, newest first, and each one's phase is
read as the operator reads it: a closed execution's close status (the listing's) or result, a running one's
`snapshot` query. RECORDED says whether it is a WorkflowRun now (recorded and not yet past the trigger's
history limits: then `describe run` and `resume` work on it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from drift.run_observation import Execution, closed_phase, handle, observe, query_snapshot
from drift.trigger_events import TRIGGER_LABEL, trigger_run_name_of, trigger_workflow_prefix

from . import rendering as out
from .cli_errors import CliError
from .kube_access import RUNS, TRIGGERS, Cluster
from .temporal_access import temporal_client

READS_AT_ONCE = 8


async def _observed(client: Client, execution: WorkflowExecution) -> Execution:
    """What `observe` says of a listed execution, from the listing but for a COMPLETED one's result and a running
    one's `snapshot` query (no FAILED one's failure: the rows do not show it). One continued as new (or of no
    status) is observed: its run goes on in a newer execution."""
    status = execution.status
    if status in (None, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return await observe(client, execution.id, query=execution.close_time is None)
    if status == WorkflowExecutionStatus.RUNNING:
        return Execution(None, None, await query_snapshot(client, execution.id), None)
    snapshot = None
    if status == WorkflowExecutionStatus.COMPLETED:
        snapshot = await handle(client, execution.id, execution.run_id).result(follow_runs=False)
    return Execution(status.name, execution.close_time, snapshot, None)


async def _row(client: Client, execution: WorkflowExecution, recorded: set[str]) -> dict[str, Any]:
    observed = await _observed(client, execution)
    snapshot = observed.snapshot
    if observed.closed:
        phase, _ = closed_phase(observed.closed, snapshot)
    else:
        phase = snapshot.phase if snapshot else "Running"
    waiting = snapshot.waiting_for if snapshot else None
    name = trigger_run_name_of(execution.id)
    return {
        "name": name,
        "phase": phase,
        "node": (snapshot.current_node if snapshot else None) or (waiting.node if waiting else None),
        "nodesCompleted": snapshot.nodes_completed if snapshot else 0,
        "age": out.span(out.between(execution.start_time)),
        "duration": out.span(out.between(execution.start_time, execution.close_time)) if execution.close_time else None,
        "recorded": name in recorded,
        "workflowId": execution.id,
    }


async def _rows(namespace: str, trigger: str, limit: int, recorded: set[str]) -> list[dict[str, Any]]:
    client = await temporal_client()
    query = f'WorkflowId STARTS_WITH "{trigger_workflow_prefix(namespace, trigger)}"'
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def read(execution: WorkflowExecution) -> dict[str, Any]:
        async with gate:
            return await _row(client, execution, recorded)

    try:
        executions = [execution async for execution in client.list_workflows(query, limit=limit)]
        executions.sort(key=lambda execution: execution.start_time, reverse=True)
        return list(await asyncio.gather(*(read(execution) for execution in executions)))
    except RPCError as exc:
        raise CliError(f"runs of trigger {trigger} on Temporal: {exc.message}") from None


def trigger_runs(cluster: Cluster, trigger: str, limit: int) -> list[dict[str, Any]]:
    """The trigger's newest `limit` runs (the trigger must exist)."""
    cluster.get(TRIGGERS, trigger)
    recorded = {run["metadata"]["name"] for run in cluster.list(RUNS, selector=f"{TRIGGER_LABEL}={trigger}")}
    return asyncio.run(_rows(cluster.namespace, trigger, limit, recorded))


def trigger_runs_table(rows: list[dict[str, Any]]) -> Any:
    """The rows as `runs --trigger` prints them."""
    if not rows:
        return Text("No runs.")
    return out.make_table(
        ["NAME", "PHASE", "NODE", "PROGRESS", "AGE", "DURATION", "RECORDED"],
        [
            [r["name"], out.phase_text(r["phase"]), r["node"], f"{r['nodesCompleted']} nodes", r["age"],
             r["duration"], "yes" if r["recorded"] else "no"]
            for r in rows
        ],
    )  # fmt: skip
