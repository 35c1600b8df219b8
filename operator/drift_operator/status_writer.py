"""The one writer of WorkflowRun status: computed by the pure `run_status`, patched once per change, coalesced.

Every status write of a run (from a reconcile or from run events) is computed under the run's lock from all that
was observed, and only what changed is patched. A reconcile that acted on Temporal (started the run, delivered a
resume entry) stages its fields, and the write waits up to `coalesce_seconds` for the worker's next snapshot so
both go out as one patch; one that only observed is staged without waiting; one that could not start the run
writes at once. Snapshots from the run events are coalesced per run: only the newest (by `sequence`) is kept and a
Running one is written at most once per `coalesce_seconds`, so a fast run costs a handful of patches per second
and a waiting run costs nothing; a snapshot at rest (Waiting or finished: no other follows soon) is written at
once. At most a few writes are in flight (status_queue): a run waits for its turn with nothing computed, runs at
rest first, and what arrives meanwhile goes out in its one patch. A snapshot saying the run ended is confirmed on
Temporal first (the execution closes just after the worker sends it); an end Temporal has not recorded is not
shown. When a started run ends, the time is recorded beside its context in HBase (context retention goes by it)
before the final status is written: by the worker with the run's last context when its run event says so
(`end_recorded`), else here while Temporal's close is awaited, when the worker's snapshot carries the end.
Phase changes are recorded as Events in the background: they never hold up a status write.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from temporalio.client import Client
from temporalio.service import RPCError

from drift import run_observation
from drift.conditions import parse_timestamp
from drift.errors import BackendUnavailable
from drift.kube_client import Kube, KubeError
from drift.metrics import RUN_EVENTS, SYNC_SECONDS
from drift.models.resources import WORKFLOW_RUN
from drift.models.run import FINAL_PHASES
from drift.run_contract import RunEvent, RunSnapshot
from drift.storage.hbase import HBaseStore

from .run_registry import EndAhead, RunRegistry, RunState, plain
from .run_status import Observed, changes, run_status
from .status_queue import STATUS_WRITES_AT_ONCE, StatusQueue

log = logging.getLogger(__name__)
KIND = "WorkflowRun"
CONFIRM_SECONDS = 5.0
"""How long a snapshot's end waits for Temporal to record the execution's close before the status goes on
without it (the resync finds the close later)."""


class StatusWriter:
    """Writes runs' status: at once for a reconcile, coalesced for run events."""

    def __init__(
        self,
        kube: Kube,
        store: HBaseStore,
        runs: RunRegistry,
        coalesce_seconds: float,
        temporal: Client,
        *,
        writes_at_once: int = STATUS_WRITES_AT_ONCE,
    ) -> None:
        self.kube = kube
        self.temporal = temporal
        self.store = store
        self.runs = runs
        self.coalesce_seconds = coalesce_seconds
        self.queue = StatusQueue(writes_at_once)
        self._background: set[asyncio.Task[None]] = set()

    def stage(self, state: RunState, extra: Mapping[str, Any], *, hold: bool, **seen: Any) -> None:
        """Record what was `seen` and the status fields `extra`; written soon by the run's flusher, after the
        worker's next snapshot (at most `coalesce_seconds` later) when `hold`. Hold `state.lock`."""
        state.observed = dataclasses.replace(state.observed, **seen)
        state.staged.update(extra)
        if hold:
            state.hold_until = time.monotonic() + self.coalesce_seconds
        self._flush_soon(state)

    async def write(self, state: RunState, extra: Mapping[str, Any] | None = None, **seen: Any) -> None:
        """Record what was `seen` (Observed fields), compute the status with the staged fields and `extra`, patch
        what changes. Hold `state.lock`."""
        state.observed = dataclasses.replace(state.observed, **seen)
        marked = False
        if _end_unconfirmed(state.observed):
            marked = await self._confirm_and_mark(state)
        fields = state.staged | dict(extra or {})
        patch = run_status(state.observed, state.status, state.generation, datetime.now(UTC)) | fields
        diff = changes(patch, state.status)
        if not diff:
            state.staged, state.observed = {}, dataclasses.replace(state.observed, notice=None)
            return
        ending = patch["phase"] in FINAL_PHASES and state.status.get("phase") not in FINAL_PHASES
        if ending and not marked and (state.status.get("execution") or patch.get("execution")):
            finished = parse_timestamp(patch["finishedAt"]) or datetime.now(UTC)
            await self.store.mark_context_finished(state.workflow_id, finished)
        updated = await self.kube.patch_status(WORKFLOW_RUN.plural, state.namespace, state.name, diff)
        state.staged, state.observed = {}, dataclasses.replace(state.observed, notice=None)
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
            self.runs.finish(state.workflow_id)

    async def _confirm_and_mark(self, state: RunState) -> bool:
        """Wait for Temporal's close of the run whose snapshot says it ended (into `state.observed`), and record the
        snapshot's end beside its context meanwhile; whether that was recorded. (Should Temporal not confirm, the
        mark stays: the worker did end the run, and the write of its end on Temporal marks it again.) Done already
        if `_confirm_ahead` did it for this snapshot."""
        snapshot = state.observed.snapshot
        ahead, state.end_ahead = state.end_ahead, None
        if ahead is not None and ahead.snapshot is snapshot:
            confirmed, marked = ahead.confirmed, ahead.marked
        else:
            confirmed, marked = await self._close_and_mark(state, snapshot)
        state.observed = dataclasses.replace(state.observed, **confirmed)
        return marked

    async def _confirm_ahead(self, state: RunState) -> None:
        """Confirm and mark the end of a pending final snapshot before its write waits for a slot, so that Temporal's
        long poll holds none (kept in `state.end_ahead` for the write); a failure leaves it to the write."""
        snapshot = state.pending
        if snapshot is None or not _end_unconfirmed(dataclasses.replace(state.observed, snapshot=snapshot)):
            return
        try:
            state.end_ahead = EndAhead(snapshot, *await self._close_and_mark(state, snapshot))
        except (BackendUnavailable, OSError) as exc:
            log.warning("end of %s not marked ahead of its write (%s)", state.workflow_id, exc)

    async def _close_and_mark(self, state: RunState, snapshot: RunSnapshot | None) -> tuple[dict[str, Any], bool]:
        """Temporal's close of the run (`_confirm_end`) and whether the snapshot's end is marked beside its context:
        by the worker with the run's last context, or here meanwhile (not without an end time)."""
        if snapshot is None or snapshot.finished_at is None:
            return await self._confirm_end(state.workflow_id), False
        if snapshot.sequence == state.end_recorded:
            return await self._confirm_end(state.workflow_id), True
        mark = self.store.mark_context_finished(state.workflow_id, snapshot.finished_at)
        confirmed, _ = await asyncio.gather(self._confirm_end(state.workflow_id), mark)
        return confirmed, True

    async def _confirm_end(self, workflow_id: str) -> dict[str, Any]:
        """Temporal's close of an execution a snapshot says ended, waited for up to CONFIRM_SECONDS (a long poll:
        answered as the close is recorded); {} if it is still open then (or Temporal does not answer)."""
        try:
            execution = await run_observation.await_close(self.temporal, workflow_id, CONFIRM_SECONDS)
        except RPCError as exc:
            log.warning("end of %s not confirmed: %s", workflow_id, exc)
            return {}
        if execution is None:
            log.warning("%s: a snapshot says the run ended, Temporal says it runs", workflow_id)
            return {}
        if execution.closed is None:  # continued as new: the run goes on
            return {}
        seen = {"closed": execution.closed, "closed_at": execution.closed_at, "detail": execution.detail}
        return seen | ({"snapshot": execution.snapshot} if execution.snapshot else {})

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
        if event.end_recorded:
            state.end_recorded = event.snapshot.sequence
        state.pending, state.pending_epoch = event.snapshot, epoch
        state.pending_since = state.pending_since or time.monotonic()
        state.arrived.set()
        if _at_rest(event.snapshot):
            self.queue.promote(state.workflow_id)
        self._flush_soon(state)

    def _flush_soon(self, state: RunState) -> None:
        if state.flusher is None:
            state.flusher = asyncio.create_task(self._flush(state), name=f"flush {state.workflow_id}")

    async def _flush(self, state: RunState) -> None:
        backoff = 0.5
        while state.pending is not None or state.staged:
            hold = state.hold_until - time.monotonic()
            if state.pending is None and hold > 0:
                await _arrival(state, hold)
            await self._coalesce(state)
            await self._confirm_ahead(state)
            async with self.queue.slot(state.workflow_id, at_rest=_at_rest(state.pending)):
                written = await self._write_newest(state)
            if not written:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        state.flusher = None

    async def _write_newest(self, state: RunState) -> bool:
        """Write the run's newest pending snapshot and staged fields; False if the write failed (kept pending)."""
        async with state.lock:
            snapshot, since, epoch = state.pending, state.pending_since, state.pending_epoch
            state.pending, state.pending_since = None, None
            applied = state.observed.snapshot
            newer = snapshot is not None and (applied is None or snapshot.sequence > applied.sequence)
            if not newer and not state.staged:
                return True
            try:
                await self.write(state, **({"snapshot": snapshot} if newer else {}))
            except (KubeError, aiohttp.ClientError, OSError, BackendUnavailable) as exc:
                log.warning("status of %s not written (%s); retrying", state.workflow_id, exc)
                if state.pending is None and newer:
                    state.pending, state.pending_since, state.pending_epoch = snapshot, since, epoch
                state.observed = dataclasses.replace(state.observed, snapshot=applied)
                return False
            if newer:
                state.snapshot_epoch = epoch
            if since is not None:
                SYNC_SECONDS.labels(KIND).observe(time.monotonic() - since)
            return True

    async def _coalesce(self, state: RunState) -> None:
        """Wait out the run's coalescing window since its last write; a snapshot at rest (Waiting, finished)
        ends the wait as it arrives, also one that arrives during it."""
        while True:
            at_rest = _at_rest(state.pending)
            delay = state.last_write + self.coalesce_seconds - time.monotonic()
            if at_rest or delay <= 0:
                return
            await _arrival(state, delay)


async def _arrival(state: RunState, seconds: float) -> None:
    """Wait up to `seconds` for the run's next snapshot to arrive."""
    state.arrived.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.arrived.wait(), seconds)


def _at_rest(snapshot: RunSnapshot | None) -> bool:
    """A snapshot no other follows soon (Waiting, finished): written without coalescing, ahead of progress."""
    return snapshot is not None and snapshot.phase != "Running"


def _end_unconfirmed(observed: Observed) -> bool:
    """A snapshot says the started run ended; Temporal has not said so yet."""
    snapshot = observed.snapshot
    return observed.started and observed.closed is None and snapshot is not None and snapshot.phase in FINAL_PHASES
