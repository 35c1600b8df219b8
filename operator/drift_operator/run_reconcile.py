"""One reconcile of a WorkflowRun, straight: observe -> decide -> act on Temporal -> compute status -> write once.

It runs under the run's lock and decides from the status the operator last wrote or staged (not from the body
it is handed, which may predate a write of a reconcile that held the lock before), so two triggers of one
run never start its execution twice. Having acted, it stages the status (status_writer): written with the
worker's next snapshot in one patch. A run waits `Pending` while its Workflow has no latest version:
`WorkflowNotFound`, or `WorkflowNotReady` when the Workflow exists but is Stalled (a Stalled Workflow's
pointer is withdrawn); and (`HBaseUnavailable`, ...) while a backend fails its start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from drift import run_observation, run_start
from drift.conditions import timestamp
from drift.errors import BackendUnavailable
from drift.kube_client import KubeError
from drift.metrics import RECONCILES
from drift.models.run import FINAL_PHASES, WorkflowRunSpec
from drift.run_contract import ResumeRequest, RunStart

from . import executions
from .clients import Services
from .run_registry import RunState

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0
"""Retry delay when a backend or the worker did not answer."""
KIND = "WorkflowRun"


async def reconcile(body: Mapping[str, Any], services: Services, stalled: kopf.Index, *, observe: bool) -> float | None:
    """Start, steer and (with `observe`) resync one run; one status write at the end.

    None when nothing is left to retry (a run that cannot start yet waits Pending with its reason written, and
    the resync tries it again), else the seconds before it is tried again: a backend or Temporal did not
    answer, or resume delivery waits for the worker. `stalled` is the `stalled_workflows` index.
    """
    if (body.get("status") or {}).get("phase") in FINAL_PHASES:
        return None
    state = services.runs.track(body)
    spec = WorkflowRunSpec.model_validate(dict(body["spec"]))
    async with state.lock:
        status = state.intended
        if status.get("phase") in FINAL_PHASES:
            return None
        try:
            if status.get("execution"):
                extra, seen = {}, await _observe(state, services) if observe else {"started": True}
            else:
                extra, seen = await _start(state, spec, services, stalled)
                if not seen.get("started"):
                    RECONCILES.labels(KIND, "pending").inc()
                    await services.status.write(state, extra, **seen)
                    return None
            if spec.cancel and not state.cancel_requested and not seen.get("closed"):
                await executions.cancel(services.temporal, state.workflow_id)
                state.cancel_requested = True
            delivered, notice, done = await _deliver(state, spec, int(status.get("resumesDelivered") or 0), services)
        except (BackendUnavailable, RPCError) as exc:
            RECONCILES.labels(KIND, "retry").inc()
            if not status.get("execution"):  # not started: say why it waits (a new run has no status yet)
                reason = exc.reason if isinstance(exc, BackendUnavailable) else "TemporalUnavailable"
                await services.status.write(state, blocked=reason, detail=str(exc))
            return RETRY_SECONDS
        extra["resumesDelivered"] = delivered
        acted = bool(extra.get("execution")) or delivered > int(status.get("resumesDelivered") or 0)
        services.status.stage(state, extra, hold=acted, notice=notice, **seen)
        RECONCILES.labels(KIND, "synced").inc()
    return None if done else RETRY_SECONDS  # not done: resume delivery waits for the worker


async def attempt(body: Mapping[str, Any], services: Services, stalled: kopf.Index, *, observe: bool) -> float | None:
    """Reconcile the run: what `reconcile` returns, or RETRY_SECONDS after a failure (every failure is logged,
    none raised: one run's surprise must not end the loop or handler that serves the others)."""
    try:
        return await reconcile(body, services, stalled, observe=observe)
    except (RPCError, BackendUnavailable, KubeError, aiohttp.ClientError, OSError) as exc:
        log.warning("reconcile of %s failed (%s); retried in %.0fs", _name(body), exc, RETRY_SECONDS)
        return RETRY_SECONDS
    except Exception:
        log.exception("reconcile of %s failed unexpectedly; retried in %.0fs", _name(body), RETRY_SECONDS)
        return RETRY_SECONDS


def _name(body: Mapping[str, Any]) -> str:
    meta = body["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


async def refresh(state: RunState, services: Services) -> None:
    """Observe a started, unfinished run on Temporal and write what changed (run events may have been missed)."""
    async with state.lock:
        status = state.intended
        if not status.get("execution") or status.get("phase") in FINAL_PHASES:
            return
        await services.status.write(state, **await _observe(state, services))


async def _observe(state: RunState, services: Services) -> dict[str, Any]:
    """What Temporal says about the started run (its snapshot queried only if run events may have missed one)."""
    query = not services.events.live(state.snapshot_epoch)
    execution = await run_observation.observe(services.temporal, state.workflow_id, query)
    seen: dict[str, Any] = {"started": True, "closed": execution.closed, "closed_at": execution.closed_at}
    if execution.detail:
        seen["detail"] = execution.detail
    current = state.observed.snapshot
    if execution.snapshot and (current is None or execution.snapshot.sequence >= current.sequence):
        seen["snapshot"] = execution.snapshot
        state.snapshot_epoch = services.events.epoch
    return seen


async def _start(
    state: RunState, spec: WorkflowRunSpec, services: Services, stalled: kopf.Index
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resolve the workflow, check the input, start the execution: (status extra, observed changes).

    An adopted execution (a trigger's recorded run) is not started: it is observed at once.
    """
    ref = spec.workflow_ref
    if state.adopted:
        run_id = (await run_observation.handle(services.temporal, state.workflow_id).describe()).run_id
        return _started(state, services, ref.version, run_id), await _observe(state, services)
    pinned = await run_start.pin(services.cache, state.namespace, ref, spec.input)
    if isinstance(pinned, run_start.Blocked):
        problem = next(iter(stalled.get((state.namespace, ref.name), ())), None)
        if pinned.reason == "WorkflowNotFound" and problem is not None and ref.version is None:
            return {}, {"blocked": "WorkflowNotReady", "detail": f'Workflow "{ref.name}" is not Ready: {problem}'}
        extra = {"workflowVersion": pinned.version} if pinned.version else {}
        return extra, {"blocked": pinned.reason, "detail": pinned.detail}
    start = RunStart(
        namespace=state.namespace,
        run_name=state.name,
        run_uid=state.uid,
        workflow_name=ref.name,
        workflow_version=pinned.version,
        input=spec.input,
    )
    run_id = await executions.start(
        services.temporal, services.settings, state.workflow_id, start, pinned.timeout_seconds
    )
    return _started(state, services, pinned.version, run_id), {"started": True, "blocked": None, "detail": None}


def _started(state: RunState, services: Services, version: str | None, run_id: str | None) -> dict[str, Any]:
    """The status fields of a run whose execution exists."""
    execution = {"namespace": services.settings.temporal.namespace, "workflowId": state.workflow_id, "runId": run_id}
    extra = {"execution": execution, "startedAt": timestamp(datetime.now(UTC))}
    return extra | ({"workflowVersion": version} if version else {})


async def _deliver(
    state: RunState, spec: WorkflowRunSpec, delivered: int, services: Services
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
        except (TimeoutError, RPCError, RPCTimeoutOrCancelledError):  # the last: Temporal went away mid-update
            return index, notice, False
        if refusal is not None:
            notice = f"resume[{index}] for node {entry.node} refused: {refusal}"
            obj = {"metadata": {"namespace": state.namespace, "name": state.name, "uid": state.uid}}
            await services.kube.event(obj, KIND, "Warning", "ResumeRefused", notice)
        delivered = index + 1
    return delivered, notice, True
