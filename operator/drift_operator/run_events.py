"""Run status reflection: the Redis run-events subscriber and the per-run coalescing status writer.

The worker publishes a `RunEvent` after every node. One subscription serves all runs; per run only the
newest snapshot (by `sequence`) is kept and written at most once per `coalesce_seconds`, so a fast run
costs a handful of patches per second and a waiting run costs nothing. Every status write of a run (from
events, kopf handlers or the resync timer) goes through `RunTracker.write` under the run's lock, computed
by the pure `run_status` from everything observed so far. When a started run ends, the time is recorded
beside its context in HBase (context retention goes by it) before the final status is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from redis.exceptions import RedisError

from drift.conditions import parse_timestamp
from drift.errors import BackendUnavailable
from drift.metrics import RUN_EVENTS, SYNC_SECONDS
from drift.models.run import FINAL_PHASES
from drift.run_contract import RunEvent, RunSnapshot
from drift.storage.hbase import HBaseStore

from .kube_client import Kube
from .run_status import Observed, changes, run_status

log = logging.getLogger(__name__)
PLURAL = "workflowruns"
KIND = "WorkflowRun"


@dataclass(eq=False)
class RunState:
    """What the operator holds about one unfinished run."""

    namespace: str
    name: str
    uid: str
    generation: int | None = None
    status: dict[str, Any] = field(default_factory=dict)
    """The status as last read or written."""
    observed: Observed = field(default_factory=Observed)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held for every status write and every Temporal action on the run."""
    pending: RunSnapshot | None = None
    """The newest snapshot not written yet."""
    pending_since: float | None = None
    flusher: asyncio.Task[None] | None = None
    last_write: float = 0.0
    snapshot_epoch: int = -1
    """The subscription epoch of the snapshot applied last (-1: none from a live subscription)."""
    cancel_requested: bool = False

    @property
    def workflow_id(self) -> str:
        return f"{self.namespace}/{self.name}/{self.uid}"

    @property
    def sequence(self) -> int:
        return _sequence(self.pending or self.observed.snapshot)


class RunTracker:
    """Unfinished runs by Temporal workflow id, and the one place their status is written."""

    def __init__(self, kube: Kube, store: HBaseStore, coalesce_seconds: float) -> None:
        self.kube = kube
        self.store = store
        self.coalesce_seconds = coalesce_seconds
        self.epoch = 0
        """Increases on every (re)subscription; 0 while never subscribed."""
        self.connected = False
        self._states: dict[str, RunState] = {}

    def __len__(self) -> int:
        return len(self._states)

    def track(self, body: Mapping[str, Any]) -> RunState:
        """The state of the run `body` (created on first sight), refreshed from the body."""
        meta = body["metadata"]
        key = f"{meta['namespace']}/{meta['name']}/{meta['uid']}"
        state = self._states.get(key)
        if state is None:
            state = RunState(meta["namespace"], meta["name"], meta["uid"])
            self._states[key] = state
        state.generation = meta.get("generation")
        if not state.lock.locked():  # a write under way knows the newer status
            state.status = _plain(body.get("status") or {})
        return state

    def forget(self, workflow_id: str) -> None:
        """Drop a run (finished or deleted)."""
        state = self._states.pop(workflow_id, None)
        if state and state.flusher and state.flusher is not asyncio.current_task():
            state.flusher.cancel()

    def needs_query(self, state: RunState) -> bool:
        """True when the events may have missed something: no snapshot from the live subscription."""
        return not self.connected or state.snapshot_epoch != self.epoch

    async def write(self, state: RunState, extra: Mapping[str, Any] | None = None, **seen: Any) -> None:
        """Record what was `seen` (Observed fields) and patch the status if it changes. Hold `state.lock`."""
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
        updated = await self.kube.patch_status(PLURAL, state.namespace, state.name, diff)
        state.last_write = time.monotonic()
        if updated is None or updated["metadata"]["uid"] != state.uid:
            self.forget(state.workflow_id)
            return
        before = state.status.get("phase")
        state.status = _plain(updated.get("status") or {})
        state.generation = updated["metadata"].get("generation")
        phase = state.status.get("phase")
        if phase != before:
            failed = phase in ("Failed", "TimedOut")
            await self.kube.event(
                updated, KIND, "Warning" if failed else "Normal", str(phase), state.status.get("message", "")
            )
        if phase in FINAL_PHASES:
            self.forget(state.workflow_id)

    # Events -------------------------------------------------------------------------------------------

    def offer(self, event: RunEvent) -> None:
        """Queue a snapshot for its run: kept only if newer than anything seen; written soon, coalesced."""
        state = self._states.get(event.workflow_id)
        if state is None:
            RUN_EVENTS.labels("unknown").inc()
            return
        if event.snapshot.sequence <= state.sequence:
            RUN_EVENTS.labels("stale").inc()
            return
        RUN_EVENTS.labels("coalesced" if state.pending else "applied").inc()
        state.pending = event.snapshot
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
                snapshot, since = state.pending, state.pending_since
                state.pending, state.pending_since = None, None
                if snapshot is None or snapshot.sequence <= _sequence(state.observed.snapshot):
                    continue
                try:
                    await self.write(state, snapshot=snapshot)
                except (ApiException, OSError, BackendUnavailable) as exc:
                    log.warning("status of %s not written (%s); retrying", state.workflow_id, exc)
                    if state.pending is None:
                        state.pending, state.pending_since = snapshot, since
                    state.observed = dataclasses.replace(state.observed, snapshot=None)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                state.snapshot_epoch = self.epoch
                if since is not None:
                    SYNC_SECONDS.labels(KIND).observe(time.monotonic() - since)
        state.flusher = None

    async def subscribe(self, redis_url: str, channel: str) -> None:
        """Feed every RunEvent on `channel` to `offer`, forever; reconnects with backoff."""
        backoff = 0.1
        client = aioredis.Redis.from_url(redis_url, health_check_interval=5, socket_connect_timeout=2)
        try:
            while True:
                try:
                    async with client.pubsub() as pubsub:
                        await pubsub.subscribe(channel)
                        while True:
                            message = await pubsub.get_message(timeout=5.0)
                            if message is None:
                                continue
                            if message["type"] == "subscribe":
                                self.epoch += 1
                                self.connected, backoff = True, 0.1
                                log.info("subscribed to run events on %s", channel)
                            elif message["type"] == "message":
                                self._receive(message["data"])
                except (RedisError, OSError) as exc:
                    if self.connected:
                        log.warning("run events channel lost (%s); resync covers the gap", exc)
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    def _receive(self, data: bytes) -> None:
        try:
            event = RunEvent.model_validate_json(data)
        except ValidationError as exc:
            RUN_EVENTS.labels("invalid").inc()
            log.warning("ignoring malformed run event: %s", exc.errors()[:1])
            return
        self.offer(event)


def _plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (kopf hands out read-only views)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _sequence(snapshot: RunSnapshot | None) -> int:
    return snapshot.sequence if snapshot else -1
