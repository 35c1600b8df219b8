"""The WorkflowRun event handler (reconcile, expire, terminate on delete), fed by the operator's own watch of
WorkflowRuns (run_watch, not kopf's), and the loops.

The handler reconciles (run_reconcile: start the execution once, deliver resume entries and cancels, write the
status once) at a run's first sight and when its spec or its Workflow's trigger changed; a run found started
with nothing in its spec left to act on is only compared with Temporal, in the background. It is a plain event
handler, not kopf's create/update/delete handlers: those cost two API writes a run (kopf's diff-base
annotation and its finalizer) and a finalizer blocks deletes while the operator is away. The live state
between reconciles comes from the worker's run events (run_events). One rate-limited loop over the unfinished
runs (run_resync) retries a Pending start and checks the execution on Temporal, so a missed event or an
execution closed without one (time-out, termination) shows up; when the run-events subscription comes back
after a gap, every unfinished run is checked at once (run_catchup). A finished run with a TTL (its
`ttlSecondsAfterFinished`, else DRIFT_RUN_TTL_SECONDS) is deleted that long after `status.finishedAt`
(run_expiry); its execution and context stay. A deleted unfinished run's execution is terminated (run_orphans,
which also sweeps for runs deleted while the operator was away).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf
from temporalio.service import RPCError

from drift.conditions import STALLED, parse_timestamp
from drift.errors import BackendUnavailable
from drift.kube_client import KubeError
from drift.metrics import RUNS
from drift.models.resources import GROUP, VERSION, WORKFLOW, WORKFLOW_RUN
from drift.models.run import FINAL_PHASES
from drift.run_contract import run_workflow_id

from .clients import Services
from .definition_handlers import TRIGGER_ANNOTATION
from .operator_settings import FINALIZER
from .run_catchup import observe_soon, stop_observing
from .run_orphans import OrphanSweep, retire
from .run_reconcile import attempt
from .run_resync import Resync
from .run_watch import RunWatch

log = logging.getLogger(__name__)


@kopf.index(GROUP, VERSION, WORKFLOW.plural)
async def stalled_workflows(namespace: str, name: str, status: Mapping[str, Any], **_: Any) -> dict[Any, str] | None:
    """(namespace, Workflow) -> its Stalled message while its spec is invalid (why new runs wait)."""
    conditions = status.get("conditions") or ()
    stalled = next((c for c in conditions if c.get("type") == STALLED and c.get("status") == "True"), None)
    return {(namespace, name): stalled.get("message") or stalled.get("reason", "")} if stalled else None


@kopf.on.startup()
def export_run_gauge(memo: Services, **_: Any) -> None:
    """drift_operator_runs{phase} counts the run index at scrape time."""
    for phase in ("Pending", "Running", "Waiting", *FINAL_PHASES):
        RUNS.labels(phase).set_function(lambda phase=phase: memo.index.phase_counts[phase])


async def run_event(
    type: str | None, body: Mapping[str, Any], memo: Services, stalled_workflows: kopf.Index, **_: Any
) -> None:
    """Every watch event of a WorkflowRun (`run_watch`; while listing: type None). Reconciles a run at first sight
    and when its spec (`generation`) or its Workflow's trigger annotation changed; the operator's own status
    writes change neither, and are not reconciled. A finished run is scheduled for deletion by its TTL; a
    deleted one has its execution terminated."""
    meta, status = body["metadata"], body.get("status") or {}
    key = run_workflow_id(meta)
    if type == "DELETED":
        memo.index.remove(meta["uid"])
        await _deleted(key, meta, status, memo)
        return
    memo.index.update(body)
    if meta.get("deletionTimestamp"):
        await _release(meta, memo)  # going away (its DELETED event ends it), finished or not
    if status.get("phase") in FINAL_PHASES:
        memo.runs.forget_finished(key)  # the events after this one are newer than the end written
        _expire_later(meta, body["spec"], status, memo)
        return
    state = memo.runs.get(key)
    if meta.get("deletionTimestamp") or (state is None and memo.runs.finished(key)):
        return  # going away; or an event older than the end this operator wrote
    if state is not None and not changed(state.metadata, meta):
        return
    gate: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
    if state is None and status.get("execution"):  # started before this operator
        if acted_on(body):
            observe_soon(memo.runs.track(body), memo)  # compared with Temporal soon, in the background
            return
        gate = memo.first_sight  # its spec changed meanwhile: reconciled here, a few at once
    async with gate:
        retry = await attempt(body, memo, stalled_workflows, observe=state is None)
    state = memo.runs.get(key)
    if retry is not None and state is not None:
        state.resync_at = min(state.resync_at, time.monotonic() + retry)


def acted_on(body: Mapping[str, Any]) -> bool:
    """Whether everything in the run's spec was acted on by an earlier reconcile: its generation observed, its
    resume entries delivered, no cancel (pure)."""
    spec, status = body.get("spec") or {}, body.get("status") or {}
    delivered = int(status.get("resumesDelivered") or 0) >= len(spec.get("resume") or ())
    observed = status.get("observedGeneration") == body["metadata"].get("generation")
    return observed and delivered and not spec.get("cancel")


def changed(seen: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
    """Whether a run's metadata asks for a reconcile since `seen` (the metadata last reconciled): a new spec, or
    its Workflow's trigger (pure)."""

    def trigger(metadata: Mapping[str, Any]) -> str | None:
        return (metadata.get("annotations") or {}).get(TRIGGER_ANNOTATION)

    return seen.get("generation") != meta.get("generation") or trigger(seen) != trigger(meta)


@kopf.on.startup()
async def start_loops(memo: Services, stalled_workflows: kopf.Index, **_: Any) -> None:
    """The watch of WorkflowRuns and the loops over all runs: the resync (the slow safety net of every unfinished
    run, rate-limited), the TTL deletions of finished runs, the sweep for executions of deleted runs."""

    async def handle(kind: str | None, body: dict[str, Any]) -> None:
        await run_event(kind, body, memo, stalled_workflows)

    runs = RunWatch(memo.kube, WORKFLOW_RUN.plural, memo.settings.watch_namespace, handle)
    memo.background.extend(
        (
            asyncio.create_task(runs.run(), name="run watch"),
            asyncio.create_task(Resync(memo, stalled_workflows).run(), name="run resync"),
            asyncio.create_task(memo.expiry.run(), name="run expiry"),
            asyncio.create_task(OrphanSweep(memo).run(), name="orphan sweep"),
        )
    )


@kopf.on.cleanup()
async def stop_loops(memo: Services, **_: Any) -> None:
    """Stop the loops and the runs' background re-reads: when it stops, kopf waits up to 5 s for every task
    started while it ran, which made each restart (and upgrade) of the operator 5 s longer. Status writes and
    Events in flight are left to finish."""
    for task in memo.background:
        task.cancel()
    await asyncio.gather(*memo.background, stop_observing(), return_exceptions=True)


def _ttl_seconds(spec: Mapping[str, Any], services: Services) -> int | None:
    ttl = spec.get("ttlSecondsAfterFinished")
    return services.settings.run_ttl_seconds if ttl is None else ttl


def _expire_later(meta: Mapping[str, Any], spec: Mapping[str, Any], status: Mapping[str, Any], memo: Services) -> None:
    """Schedule the finished run's deletion `ttl` after `status.finishedAt`, if a TTL applies."""
    ttl = _ttl_seconds(spec, memo)
    if ttl is None:
        return
    finished = parse_timestamp(status.get("finishedAt")) or parse_timestamp(meta["creationTimestamp"])
    at = (finished.timestamp() if finished else time.time()) + ttl
    memo.expiry.schedule(meta["namespace"], meta["name"], meta["uid"], at)


async def _release(meta: Mapping[str, Any], memo: Services) -> None:
    """Remove the finalizer an earlier operator (kopf's handlers) put on the run, so its delete completes; the
    precondition on the run's version keeps a finalizer added meanwhile (a conflict: the next event retries)."""
    finalizers = meta.get("finalizers") or []
    if FINALIZER not in finalizers:
        return
    remaining = [finalizer for finalizer in finalizers if finalizer != FINALIZER]
    patch = {"metadata": {"finalizers": remaining, "resourceVersion": meta["resourceVersion"]}}
    try:
        await memo.kube.patch(WORKFLOW_RUN.plural, meta["namespace"], meta["name"], patch)
    except KubeError as exc:
        log.info("finalizer of %s/%s not released yet: %s", meta["namespace"], meta["name"], exc)


async def _deleted(key: str, meta: Mapping[str, Any], status: Mapping[str, Any], memo: Services) -> None:
    """Terminate an unfinished execution; a finished one is left alone. The context stays in HBase. A failure
    is logged: the orphan sweep terminates the execution later."""
    state = memo.runs.get(key)
    started = bool(status.get("execution") or (state and state.intended.get("execution")))
    memo.runs.forget(key)
    memo.expiry.discard(meta["uid"])
    if status.get("phase") in FINAL_PHASES:
        return
    try:
        await retire(memo, key, started=started)
    except (RPCError, BackendUnavailable) as exc:
        log.warning("execution %s of a deleted run not terminated (%s); the orphan sweep retries", key, exc)
