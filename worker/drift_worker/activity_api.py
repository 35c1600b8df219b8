"""The worker's activities as workflow code calls them: names, inputs and result types, no I/O.

`DriftActivities` (activities.py) implements them. The names are in every recorded history: never rename
one (a renamed activity is a new activity; see the README, "Changing the interpreter safely").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import timedelta
from typing import Any

from temporalio import activity

from .graph import PinnedGraph
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

LOAD_GRAPH = "drift.load_graph"
HTTP_REQUEST = "drift.http_request"
PERSIST_PROGRESS = "drift.persist_progress"
STORE_VALUE = "drift.store_value"
LOAD_VALUE = "drift.load_value"
CHECKPOINT = "drift.checkpoint"
EMIT = "drift.emit"
REGISTER_WAIT = "drift.register_wait"
UNREGISTER_WAIT = "drift.unregister_wait"

SIDE_EFFECT_HEARTBEAT = timedelta(seconds=10)
"""Heartbeat timeout of an http or emit attempt: when its worker dies mid-attempt, Temporal retries the attempt
after this long instead of after the node's start-to-close timeout (300 s by default)."""


class RunActivities(ABC):
    """What a run asks of its worker; workflow code passes these methods to `execute_*_activity_method`."""

    @activity.defn(name=LOAD_GRAPH)
    @abstractmethod
    async def load_graph(self, request: LoadGraph) -> PinnedGraph:
        """The workflow version and every node-definition version it pins (a local activity)."""

    @activity.defn(name=HTTP_REQUEST)
    @abstractmethod
    async def http_request(self, request: HttpRequest) -> HttpResult:
        """One attempt of an http node (Temporal retries it under the node's policy)."""

    @activity.defn(name=EMIT)
    @abstractmethod
    async def emit(self, request: EmitRequest) -> EmitResult:
        """One attempt to publish an emit node's event (Temporal retries it under the node's policy)."""

    @activity.defn(name=REGISTER_WAIT)
    @abstractmethod
    async def register_wait(self, wait: EventWait) -> list[dict[str, Any]]:
        """Register an event node's wait, then return the events already in its inbox (a local activity)."""

    @activity.defn(name=UNREGISTER_WAIT)
    @abstractmethod
    async def unregister_wait(self, wait: EventWait) -> None:
        """Remove the wait once the node has its event or timed out (a local activity)."""

    @activity.defn(name=PERSIST_PROGRESS)
    @abstractmethod
    async def persist_progress(self, update: ProgressUpdate) -> None:
        """Persist the context, then publish the snapshot (a local activity)."""

    @activity.defn(name=STORE_VALUE)
    @abstractmethod
    async def store_value(self, request: StoreValue) -> None:
        """Keep a large context value in HBase (a local activity: the value stays out of history)."""

    @activity.defn(name=LOAD_VALUE)
    @abstractmethod
    async def load_value(self, request: LoadValue) -> ContextValue:
        """Read a stored context value back (a regular activity: one value per history event)."""

    @activity.defn(name=CHECKPOINT)
    @abstractmethod
    async def checkpoint(self) -> None:
        """Nothing: a local activity a map batch awaits now and then, so one activation never runs long."""
