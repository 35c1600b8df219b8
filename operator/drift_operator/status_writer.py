"""The one writer of WorkflowRun status: computed by the pure `run_status`, patched once per change, coalesced.

Every status write of a run (from a reconcile or from run events) goes through `StatusWriter.write` under the
run's lock. Snapshots from the run events are coalesced per run: only the newest (by `sequence`) is kept and
written at most once per `coalesce_seconds`, so a fast run costs a handful of patches per second and a waiting
run costs nothing. When a started run ends, the time is recorded beside its context in HBase (context
retention goes by it) before the final status is written. Phase changes are recorded as Events in the
background: they never hold up a status write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from drift.conditions import parse_timestamp
from drift.errors import BackendUnavailable
from drift.metrics import RUN_EVENTS, SYNC_SECONDS
from drift.models.resources import WORKFLOW_RUN
from drift.models.run import FINAL_PHASES
from drift.run_contract import RunEvent
from drift.storage.hbase import HBaseStore

from .kube_client import Kube, KubeError
from .run_registry import RunRegistry, RunState, plain
from .run_status import changes, run_status

log = logging.getLogger(__name__)
KIND = "WorkflowRun"


class StatusWriter:
    """Writes runs' status: at once for a reconcile, coalesced for run events."""

    def __init__(self, kube: Kube, store: HBaseStore, runs: RunRegistry, coalesce_seconds: float) -> None:
        self.kube = kube
        self.store = store
        self.runs = runs
        self.coalesce_seconds = coalesce_seconds
        self._background: set[asyncio.Task[None]] = set()

    async def write(self, state: RunState, extra: Mapping[str, Any] | None = None, **seen: Any) -> None:
        """Record what was `seen` (Observed fields), compute the status and patch what changes. Hold `state.lock`."""
        state.observed = dataclasses.replace(state.observed, **seen)
        patch = run_status(state.observed, state.status, state.generation, datetime.now(UTC)) | dict(extra or {})
        state.observed = dataclasses.replace(state.observed, notice=None)
        diff = changes(patch, state.status)
        if not diff:
            return
        ending = patch["phase"] in FINAL_PHASES and state.status.get("phase") not in FINAL_PHASES
        if ending and (state.status.get("execution") or patch.get("execution")):
            finished = parse_timestamp(patch["finishedAt"]) or datetime.now(UTC)
            await self.store.mark_context_finished(state.workflow_id, finished)
        updated = await self.kube.patch_status(WORKFLOW_RUN.plural, state.namespace, state.name, diff)
        state.last_write = time.monotonic()
        if updated is None or updated["metadata"]["uid"] != state.uid:
            self.runs.forget(state.workflow_id)
            return
        before = state.status.get("phase")
        state.status = plain(updated.get("status") or {})
        state.generation = updated["metadata"].get("generation")
        phase = state.status.get("phase")
        if phase != before:
            self._record_phase(updated, str(phase), state.status.get("message", ""))
        if phase in FINAL_PHASES:
            self.runs.forget(state.workflow_id)

    def _record_phase(self, obj: Mapping[str, Any], phase: str, message: str) -> None:
        kind = "Warning" if phase in ("Failed", "TimedOut") else "Normal"
        task = asyncio.create_task(self.kube.event(obj, KIND, kind, phase, message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # Run events ---------------------------------------------------------------------------------------

    def offer(self, event: RunEvent, epoch: int) -> None:
        """Queue a snapshot for its run: kept only if newer than anything seen; written soon, coalesced."""
        state = self.runs.get(event.workflow_id)
        if state is None:
            RUN_EVENTS.labels("unknown").inc()
            return
        if event.snapshot.sequence <= state.sequence:
            RUN_EVENTS.labels("stale").inc()
            return
        RUN_EVENTS.labels("coalesced" if state.pending else "applied").inc()
        state.pending, state.pending_epoch = event.snapshot, epoch
        state.pending_since = state.pending_since or time.monotonic()
        if state.flusher is None:
            state.flusher = asyncio.create_task(self._flush(state), name=f"flush {event.workflow_id}")

    async def _flush(self, state: RunState) -> None:
        backoff = 0.5
        while state.pending is not None:
            delay = state.last_write + self.coalesce_seconds - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with state.lock:
                snapshot, since, epoch = state.pending, state.pending_since, state.pending_epoch
                state.pending, state.pending_since = None, None
                applied = state.observed.snapshot
                if snapshot is None or (applied is not None and snapshot.sequence <= applied.sequence):
                    continue
                try:
                    await self.write(state, snapshot=snapshot)
                except (KubeError, aiohttp.ClientError, OSError, BackendUnavailable) as exc:
                    log.warning("status of %s not written (%s); retrying", state.workflow_id, exc)
                    if state.pending is None:
                        state.pending, state.pending_since, state.pending_epoch = snapshot, since, epoch
                    state.observed = dataclasses.replace(state.observed, snapshot=applied)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                state.snapshot_epoch = epoch
                if since is not None:
                    SYNC_SECONDS.labels(KIND).observe(time.monotonic() - since)
        state.flusher = None
