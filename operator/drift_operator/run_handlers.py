"""kopf handlers of WorkflowRun: reconcile on create, update and resume; resync; expire; terminate on delete.

A reconcile (run_reconcile) starts the execution once, delivers resume entries and cancels, then writes the
status once (status_writer). The live state between reconciles comes from the worker's run events
(run_events). One rate-limited loop over the unfinished runs (run_resync: each about every minute, further
apart past `resync_per_second` x 60 runs) retries a Pending start and checks the execution on Temporal, so
a missed event or an execution closed without one (time-out, termination) shows up; when the run-events
subscription comes back after a gap, every unfinished run is checked at once (run_catchup). A finished run
with a TTL (its `ttlSecondsAfterFinished`, else DRIFT_RUN_TTL_SECONDS) is deleted that long after
`status.finishedAt`; its execution and context stay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from temporalio.service import RPCError

from drift.conditions import STALLED, parse_timestamp
from drift.errors import BackendUnavailable
from drift.metrics import RUNS
from drift.models.resources import GROUP, VERSION, WORKFLOW, WORKFLOW_RUN
from drift.models.run import FINAL_PHASES
from drift.run_contract import run_workflow_id

from . import executions
from .clients import Services
from .run_reconcile import RETRY_SECONDS, reconcile
from .run_resync import Resync


@kopf.index(GROUP, VERSION, WORKFLOW_RUN.plural)
def run_phases(namespace: str, name: str, status: Mapping[str, Any], **_: Any) -> dict[str, str]:
    """phase -> runs (the runs-by-phase gauge reads it)."""
    return {status.get("phase") or "Pending": f"{namespace}/{name}"}


@kopf.index(GROUP, VERSION, WORKFLOW.plural)
def stalled_workflows(namespace: str, name: str, status: Mapping[str, Any], **_: Any) -> dict[Any, str] | None:
    """(namespace, Workflow) -> its Stalled message while its spec is invalid (why new runs wait)."""
    conditions = status.get("conditions") or ()
    stalled = next((c for c in conditions if c.get("type") == STALLED and c.get("status") == "True"), None)
    return {(namespace, name): stalled.get("message") or stalled.get("reason", "")} if stalled else None


@kopf.on.startup()
def export_run_gauge(run_phases: kopf.Index, **_: Any) -> None:
    """drift_operator_runs{phase} counts the index at scrape time."""
    for phase in ("Pending", "Running", "Waiting", *FINAL_PHASES):
        RUNS.labels(phase).set_function(lambda phase=phase: len(run_phases.get(phase, ())))


@kopf.on.resume(GROUP, VERSION, WORKFLOW_RUN.plural)
async def resume_run(body: kopf.Body, memo: Services, stalled_workflows: kopf.Index, **_: Any) -> None:
    """At operator start: catch up with Temporal (events may have been missed while down)."""
    await reconcile(body, memo, stalled_workflows, observe=True)


@kopf.on.create(GROUP, VERSION, WORKFLOW_RUN.plural)
@kopf.on.update(GROUP, VERSION, WORKFLOW_RUN.plural)
async def reconcile_run(body: kopf.Body, memo: Services, stalled_workflows: kopf.Index, **_: Any) -> None:
    """A new run, an appended resume entry, cancel, or a trigger from its Workflow."""
    await reconcile(body, memo, stalled_workflows, observe=False)


@kopf.on.startup()
async def start_resync(memo: Services, stalled_workflows: kopf.Index, **_: Any) -> None:
    """The slow safety net for every unfinished run (run_resync): one loop, rate-limited."""
    memo.background.append(asyncio.create_task(Resync(memo, stalled_workflows).run(), name="run resync"))


def _ttl_seconds(spec: Mapping[str, Any], services: Services) -> int | None:
    ttl = spec.get("ttlSecondsAfterFinished")
    return services.settings.run_ttl_seconds if ttl is None else ttl


def expiring(spec: Mapping[str, Any], status: Mapping[str, Any], memo: Services, **_: Any) -> bool:
    """kopf filter: the run has finished and a TTL applies to it."""
    return status.get("phase") in FINAL_PHASES and _ttl_seconds(spec, memo) is not None


@kopf.daemon(GROUP, VERSION, WORKFLOW_RUN.plural, when=expiring, cancellation_timeout=1.0)
async def expire_run(body: kopf.Body, memo: Services, **_: Any) -> None:
    """Delete the finished run when its TTL has passed since status.finishedAt (restarts keep the schedule)."""
    meta, status = body["metadata"], body.get("status") or {}
    ttl = _ttl_seconds(body["spec"], memo) or 0
    finished = parse_timestamp(status.get("finishedAt")) or parse_timestamp(meta["creationTimestamp"])
    if finished is not None:
        await asyncio.sleep(max((finished - datetime.now(UTC)).total_seconds() + ttl, 0.0))
    await memo.kube.delete(WORKFLOW_RUN.plural, meta["namespace"], meta["name"], meta["uid"])


@kopf.on.delete(GROUP, VERSION, WORKFLOW_RUN.plural)
async def delete_run(body: kopf.Body, memo: Services, **_: Any) -> None:
    """Terminate an unfinished execution (finalizer); a finished one is left alone. The context stays in HBase."""
    meta, status = body["metadata"], body.get("status") or {}
    key = run_workflow_id(meta)
    memo.runs.forget(key)
    if status.get("phase") in FINAL_PHASES:
        return
    try:
        await executions.terminate(memo.temporal, key, "WorkflowRun deleted")
        if status.get("execution"):
            await memo.cache.store.mark_context_finished(key, datetime.now(UTC))
    except (RPCError, BackendUnavailable) as exc:
        raise kopf.TemporaryError(str(exc), delay=RETRY_SECONDS) from None
