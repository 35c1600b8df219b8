"""Inputs of the worker's activities: one pydantic model each, so fields can be added later."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from drift.models.nodes import HeaderFromSecret
from drift.models.run import NodeExecution
from drift.run_contract import RunSnapshot


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class LoadGraph(_Message):
    """Which workflow version to pin."""

    namespace: str
    workflow_name: str
    workflow_version: str


class HttpRequest(_Message):
    """A rendered HTTP call; secret headers travel as references and are read in the activity."""

    namespace: str
    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    headers_from: list[HeaderFromSecret] = Field(default_factory=list)
    query: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout_seconds: float = 30.0


class HttpResult(_Message):
    """What an http node's attempt got: the node's result `{status, headers, body}`, and which attempt it was."""

    status: int
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    attempt: int = 1

    def node_result(self) -> dict[str, Any]:
        """The result as expressions see it (`result.status`, `result.headers`, `result.body`)."""
        return self.model_dump(exclude={"attempt"})


class EmitRequest(_Message):
    """A rendered CloudEvent and where it goes; its id was fixed in workflow code before the first attempt."""

    attributes: dict[str, str]
    """CloudEvent attributes: id, source, type, time, subject if any."""
    data: dict[str, Any] | None = None
    topic: str | None = None
    """Kafka: the topic (binary mode)."""
    key: str | None = None
    """Kafka: the message key."""
    http: HttpRequest | None = None
    """HTTP: the request to POST the event with (structured mode); its body is the event."""


class EmitResult(_Message):
    """Where the event landed: Kafka's topic, partition and offset, or the endpoint's status."""

    id: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    status: int | None = None
    attempt: int = 1

    def node_result(self) -> dict[str, Any]:
        """The result as expressions see it: `{id, topic, partition, offset}` or `{id, status}`."""
        return self.model_dump(exclude={"attempt"}, exclude_none=True)


class EventWait(_Message):
    """An event node's wait: which events (topic, type, the correlation's path) and the key they must have."""

    topic: str
    type: str
    field: str
    """The correlation's path inside the event (`data.orderId`)."""
    key: str
    workflow_id: str = ""
    """The waiting execution (filled in by the workflow)."""


class EventDelivery(_Message):
    """An arriving event for the runs waiting on `key` (the `drift.event` signal)."""

    key: str
    event: dict[str, Any]


class StoreValue(_Message):
    """A large context value to keep in the run's context row, in its own column."""

    workflow_id: str
    column: str
    value: Any


class LoadValue(_Message):
    """Which stored context value to read back."""

    workflow_id: str
    column: str


class ContextValue(_Message):
    """A stored context value, read back."""

    value: Any


class CompletedNode(_Message):
    """A node execution that ended, and how long it took (for metrics)."""

    execution: NodeExecution
    seconds: float


class ProgressUpdate(_Message):
    """The context after a node and the snapshot the operator shows: persisted, then published."""

    workflow_id: str
    sequence: int
    context: dict[str, Any]
    snapshot: RunSnapshot
    completed: list[CompletedNode] = []
    """The node executions that ended since the run's last update."""
