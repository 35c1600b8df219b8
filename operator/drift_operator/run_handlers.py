"""kopf handlers of WorkflowRun: start the execution once, deliver resume entries, cancel, terminate on delete.

Each reconcile holds the run's lock, acts on Temporal, then writes the status once through the tracker.
The live state between reconciles comes from the worker's run events (run_events); a slow timer per
unfinished run (every RESYNC_SECONDS) retries a Pending start and checks the execution on Temporal, so a
missed event or an execution closed without one (time-out, termination) shows up within a minute.

A run waits `Pending` while its Workflow has no latest version: `WorkflowNotFound`, or `WorkflowNotReady`
when the Workflow exists but is Stalled (a Stalled Workflow's pointer is withdrawn); and (`HBaseUnavailable`,
...) while a backend fails its start. A finished run with a TTL (its `ttlSecondsAfterFinished`, else
DRIFT_RUN_TTL_SECONDS) is deleted that long after `status.finishedAt`; its execution and context stay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from temporalio.service import RPCError

from drift.conditions import STALLED, parse_timestamp, timestamp
from drift.errors import BackendUnavailable
from drift.metrics import RECONCILES, RUNS
from drift.models.resources import GROUP, VERSION, WORKFLOW, WORKFLOW_RUN
from drift.models.run import FINAL_PHASES, WorkflowRunSpec
from drift.run_contract import ResumeRequest, RunStart, workflow_id
from drift.validation import DefinitionInvalid, validate_input

from . import executions
from .clients import Services
from .run_events import RunState

RESYNC_SECONDS = 60.0
"""Per unfinished run: retry a Pending start, or compare the status with Temporal (describe only)."""
RETRY_SECONDS = 5.0
"""Retry delay when a backend or the worker did not answer."""
KIND = "WorkflowRun"


def unfinished(status: Mapping[str, Any], **_: Any) -> bool:
    """kopf filter: the run has not reached a final phase."""
    return status.get("phase") not in FINAL_PHASES


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


async def _start(
    state: RunState, spec: WorkflowRunSpec, services: Services, stalled: kopf.Index
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolve the workflow, check the input, start the execution: (status extra, observed changes)."""
    ref = spec.workflow_ref
    stored = await services.cache.get("workflow", state.namespace, ref.name, ref.version)
    problem = next(iter(stalled.get((state.namespace, ref.name), ())), None)
    if stored is None and problem is not None and ref.version is None:
        return {}, {"blocked": "WorkflowNotReady", "detail": f'Workflow "{ref.name}" is not Ready: {problem}'}
    if stored is None:
        pinned = f" version {ref.version}" if ref.version else ""
        detail = f'Workflow "{ref.name}"{pinned} not found or not Ready'
        return {}, {"blocked": "WorkflowNotFound", "detail": detail}
    workflow = stored.workflow_spec()
    try:
        validate_input(workflow.input_schema, spec.input)
    except DefinitionInvalid as exc:
        return {"workflowVersion": stored.version}, {"blocked": "InvalidInput", "detail": str(exc)}
    start = RunStart(
        namespace=state.namespace,
        run_name=state.name,
        run_uid=state.uid,
        workflow_name=ref.name,
        workflow_version=stored.version,
        input=spec.input,
    )
    run_id = await executions.start(
        services.temporal, services.settings, state.workflow_id, start, workflow.timeout_seconds
    )
    execution = {"namespace": services.settings.temporal.namespace, "workflowId": state.workflow_id, "runId": run_id}
    extra = {"workflowVersion": stored.version, "execution": execution, "startedAt": timestamp(datetime.now(UTC))}
    return extra, {"started": True, "blocked": None, "detail": None}


async def _deliver(
    state: RunState, spec: WorkflowRunSpec, delivered: int, services: Services, body: Mapping[str, Any]
) -> tuple[int, str | None, bool]:
    """Deliver resume entries from `delivered` on, in order: (delivered now, last refusal, all done)."""
    notice = None
    for index in range(delivered, len(spec.resume)):
        entry = spec.resume[index]
        request = ResumeRequest(index=index, node=entry.node, path=entry.path, input=entry.input)
        try:
            refusal = await executions.resume(
                services.temporal, state.workflow_id, request, services.settings.update_timeout_seconds
            )
        except (TimeoutError, RPCError):
            return index, notice, False
        if refusal is not None:
            notice = f"resume[{index}] for node {entry.node} refused: {refusal}"
            await services.kube.event(body, KIND, "Warning", "ResumeRefused", notice)
        delivered = index + 1
    return delivered, notice, True


async def reconcile(body: Mapping[str, Any], services: Services, stalled: kopf.Index, *, observe: bool) -> None:
    """Start, steer and (with `observe`) resync one run; one status write at the end.

    `stalled` is the `stalled_workflows` index.
    """
    status = body.get("status") or {}
    if status.get("phase") in FINAL_PHASES:
        return
    state = services.runs.track(body)
    spec = WorkflowRunSpec.model_validate(dict(body["spec"]))
    async with state.lock:
        extra: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        try:
            if not status.get("execution"):
                extra, seen = await _start(state, spec, services, stalled)
                if not seen.get("started"):
                    RECONCILES.labels(KIND, "pending").inc()
                    await services.runs.write(state, extra, **seen)
                    return
            elif observe:
                execution = await executions.observe(
                    services.temporal, state.workflow_id, services.runs.needs_query(state)
                )
                seen = {"started": True, "closed": execution.closed, "closed_at": execution.closed_at}
                if execution.detail:
                    seen["detail"] = execution.detail
                current = state.observed.snapshot
                if execution.snapshot and (current is None or execution.snapshot.sequence >= current.sequence):
                    seen["snapshot"] = execution.snapshot
                    state.snapshot_epoch = services.runs.epoch
            else:
                seen["started"] = True
            if spec.cancel and not state.cancel_requested and not seen.get("closed"):
                await executions.cancel(services.temporal, state.workflow_id)
                state.cancel_requested = True
            delivered = int(status.get("resumesDelivered") or 0)
            delivered, notice, done = await _deliver(state, spec, delivered, services, body)
        except (BackendUnavailable, RPCError) as exc:
            RECONCILES.labels(KIND, "retry").inc()
            if not status.get("execution"):  # not started: say why it waits (a new run has no status yet)
                reason = exc.reason if isinstance(exc, BackendUnavailable) else "TemporalUnavailable"
                await services.runs.write(state, blocked=reason, detail=str(exc))
            raise kopf.TemporaryError(str(exc), delay=RETRY_SECONDS) from None
        extra["resumesDelivered"] = delivered
        await services.runs.write(state, extra, notice=notice, **seen)
        RECONCILES.labels(KIND, "synced").inc()
    if not done:
        raise kopf.TemporaryError("resume delivery waits for the worker", delay=RETRY_SECONDS)


@kopf.on.resume(GROUP, VERSION, WORKFLOW_RUN.plural)
async def resume_run(body: kopf.Body, memo: Services, stalled_workflows: kopf.Index, **_: Any) -> None:
    """At operator start: catch up with Temporal (events may have been missed while down)."""
    await reconcile(body, memo, stalled_workflows, observe=True)


@kopf.on.create(GROUP, VERSION, WORKFLOW_RUN.plural)
@kopf.on.update(GROUP, VERSION, WORKFLOW_RUN.plural)
async def reconcile_run(body: kopf.Body, memo: Services, stalled_workflows: kopf.Index, **_: Any) -> None:
    """A new run, an appended resume entry, cancel, or a trigger from its Workflow."""
    await reconcile(body, memo, stalled_workflows, observe=False)


@kopf.timer(GROUP, VERSION, WORKFLOW_RUN.plural, interval=RESYNC_SECONDS, when=unfinished)
async def resync_run(body: kopf.Body, memo: Services, stalled_workflows: kopf.Index, **_: Any) -> None:
    """The slow safety net for every unfinished run."""
    await reconcile(body, memo, stalled_workflows, observe=True)


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
    key = workflow_id(meta["namespace"], meta["name"], meta["uid"])
    memo.runs.forget(key)
    if status.get("phase") in FINAL_PHASES:
        return
    try:
        await executions.terminate(memo.temporal, key, "WorkflowRun deleted")
        if status.get("execution"):
            await memo.cache.store.mark_context_finished(key, datetime.now(UTC))
    except (RPCError, BackendUnavailable) as exc:
        raise kopf.TemporaryError(str(exc), delay=RETRY_SECONDS) from None
