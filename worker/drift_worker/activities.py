"""The worker's activities: every piece of I/O a run does (definitions, HTTP, Secrets, HBase, Redis)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
from kubernetes import client as k8s
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from drift.cache.definition_cache import DefinitionCache
from drift.errors import BackendUnavailable
from drift.event_inbox import EventInbox
from drift.metrics import CONTEXT_PERSIST_SECONDS, NODE_EXECUTIONS, NODE_SECONDS
from drift.run_contract import RunEvent
from drift.storage.hbase import HBaseStore

from . import http_client
from .activity_api import (
    CHECKPOINT,
    EMIT,
    HTTP_REQUEST,
    LOAD_GRAPH,
    LOAD_VALUE,
    PERSIST_PROGRESS,
    REGISTER_WAIT,
    SIDE_EFFECT_HEARTBEAT,
    STORE_VALUE,
    UNREGISTER_WAIT,
    RunActivities,
)
from .context_values import ContextLimits
from .context_writer import ContextWriter
from .egress import EgressPolicy
from .event_sink import EventSink
from .graph import PinMissing, PinnedGraph, load_pinned
from .messages import (
    ContextValue,
    EmitRequest,
    EmitResult,
    EventWait,
    HttpRequest,
    HttpResult,
    LoadGraph,
    LoadValue,
    ProgressUpdate,
    StoreValue,
)
from .run_event_publisher import RunEventPublisher

UNREADABLE_ATTEMPTS = 20
"""Attempts to read a definition this worker cannot parse before the run fails (about 3 minutes)."""
HEARTBEAT_EVERY_SECONDS = SIDE_EFFECT_HEARTBEAT.total_seconds() / 4
T = TypeVar("T")


async def heartbeating(work: Awaitable[T]) -> T:
    """Await `work` while heartbeating: Temporal then knows the attempt's worker is alive."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_SECONDS)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()


class DriftActivities(RunActivities):
    """The activities, bound to the worker's clients (one instance per worker process; `close` closes `events`)."""

    def __init__(
        self,
        cache: DefinitionCache,
        store: HBaseStore,
        events: RunEventPublisher,
        core: k8s.CoreV1Api | None,
        egress: EgressPolicy,
        *,
        limits: ContextLimits | None = None,
        kafka_bootstrap: str | None = None,
    ) -> None:
        self.cache = cache
        self.limits = limits or ContextLimits()
        self.store = store
        self.contexts = ContextWriter(store)
        self.core = core
        self.egress = egress
        self.events = events
        self.http = httpx.AsyncClient(follow_redirects=False)
        self.sink = EventSink(kafka_bootstrap, self.http, egress, core)
        self.inbox = EventInbox(store)

    @activity.defn(name=LOAD_GRAPH)
    async def load_graph(self, request: LoadGraph) -> PinnedGraph:
        """The workflow version and every node-definition version it pins, through the cache."""
        try:
            return await load_pinned(self.cache.version, request.namespace, request.workflow_name,
                                     request.workflow_version, self.limits)  # fmt: skip
        except PinMissing as missing:
            raise ApplicationError(missing.message, type=missing.code, non_retryable=True) from None
        except ValidationError as exc:
            # A definition newer than this worker (a node type it does not know, in a rolling upgrade): retried
            # for a while so an upgraded worker can take the run, then the run fails with the reason.
            if activity.info().attempt < UNREADABLE_ATTEMPTS:
                raise
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ApplicationError(
                f"Workflow {request.workflow_name} version {request.workflow_version} cannot be read by this "
                f"worker: {where}: {first['msg']}", type="DEFINITION_UNREADABLE", non_retryable=True,
            ) from None  # fmt: skip

    @activity.defn(name=HTTP_REQUEST)
    async def http_request(self, request: HttpRequest) -> HttpResult:
        """One attempt of an http node (Temporal retries it under the node's policy)."""
        attempt = activity.info().attempt

        async def call() -> dict[str, Any]:
            await http_client.check_egress(request.url, self.egress, attempt)
            secrets = await http_client.secret_headers(self.core, request, attempt)
            return await http_client.send(self.http, request, secrets, attempt)

        return HttpResult(**await heartbeating(call()), attempt=attempt)

    @activity.defn(name=EMIT)
    async def emit(self, request: EmitRequest) -> EmitResult:
        """One attempt to publish an emit node's event (Temporal retries it under the node's policy)."""
        attempt = activity.info().attempt
        return EmitResult(**await heartbeating(self.sink.publish(request, attempt)), attempt=attempt)

    @activity.defn(name=REGISTER_WAIT)
    async def register_wait(self, wait: EventWait) -> list[dict[str, Any]]:
        """Register an event node's wait, then return the events already in its inbox."""
        return await self.inbox.register(wait.topic, wait.type, wait.field, wait.key, wait.workflow_id)

    @activity.defn(name=UNREGISTER_WAIT)
    async def unregister_wait(self, wait: EventWait) -> None:
        """Remove the wait once the node has its event or timed out."""
        await self.inbox.unregister(wait.key, wait.workflow_id)

    @activity.defn(name=PERSIST_PROGRESS)
    async def persist_progress(self, update: ProgressUpdate) -> None:
        """Write the context to HBase (idempotent by sequence; coalesced with the run's other writes in flight:
        see context_writer), with the run's end when the snapshot has one, then publish the snapshot (retried:
        see run_event_publisher)."""
        began = time.perf_counter()
        body = json.dumps(update.context, separators=(",", ":")).encode()
        finished_at = update.snapshot.finished_at
        try:
            await self.contexts.write(update.workflow_id, body, update.sequence, finished_at)
        except BackendUnavailable as exc:
            raise ApplicationError(str(exc), type="HBASE_UNAVAILABLE") from None
        CONTEXT_PERSIST_SECONDS.observe(time.perf_counter() - began)
        for node in update.completed:
            NODE_EXECUTIONS.labels(node.execution.type, node.execution.phase).inc()
            NODE_SECONDS.labels(node.execution.type).observe(node.seconds)
        event = RunEvent(workflow_id=update.workflow_id, snapshot=update.snapshot, end_recorded=finished_at is not None)
        await self.events.publish(event)

    @activity.defn(name=STORE_VALUE)
    async def store_value(self, request: StoreValue) -> None:
        """Keep a large context value in the run's context row (write-once: its column is new)."""
        body = json.dumps(request.value, separators=(",", ":")).encode()
        try:
            await self.store.put_context_value(request.workflow_id, request.column, body)
        except BackendUnavailable as exc:
            raise ApplicationError(str(exc), type="HBASE_UNAVAILABLE") from None

    @activity.defn(name=LOAD_VALUE)
    async def load_value(self, request: LoadValue) -> ContextValue:
        """Read a large context value back."""
        try:
            body = await self.store.get_context_value(request.workflow_id, request.column)
        except BackendUnavailable as exc:
            raise ApplicationError(str(exc), type="HBASE_UNAVAILABLE") from None
        if body is None:
            raise ApplicationError(f"context value {request.column} is not in HBase", type="CONTEXT_VALUE_NOT_FOUND")
        return ContextValue(value=json.loads(body))

    @activity.defn(name=CHECKPOINT)
    async def checkpoint(self) -> None:
        """Nothing: a map batch's pause between two runs of pure nodes."""

    async def close(self) -> None:
        self.sink.close()
        await self.http.aclose()
        await self.events.close()
