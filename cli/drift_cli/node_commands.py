"""`node test`: run one NodeDefinition on its own, against the real services it calls.

The node runs through the worker's handler for its type. An http node's request goes through the worker's
own code (`drift_worker.http_client`: egress policy, Secrets that opt in, size limit, failure codes), an
emit node's event through `drift_worker.event_sink` (for real), both under the node's retry policy.
The result is what a run would store in its context, or the failure it would record (`code: message`, attempts).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from drift.models.run import RunError
from drift_worker import http_client
from drift_worker.egress import policy_from_env
from drift_worker.event_sink import EventSink
from drift_worker.graph import PinnedGraph, ResolvedNode
from drift_worker.interpreter import step
from drift_worker.messages import EmitRequest, HttpRequest

from .direct_http import with_retries
from .local_run import LocalRun


class _WouldWait(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DirectRuntime(LocalRun):
    """The Runtime protocol doing the real thing now: http for real, no timers, no waiting for people."""

    def __init__(self, namespace: str, run_input: dict[str, Any], context: dict[str, Any], core: Callable[[], Any]):
        super().__init__(namespace, run_input, context)
        self.core = core
        self.egress = policy_from_env(os.environ)
        self.waited = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        self.waited += seconds  # a wait node is reported, not waited out

    async def _retry_pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def call_http(self, request: HttpRequest, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        async with httpx.AsyncClient(follow_redirects=False) as client:

            async def attempt(number: int) -> dict[str, Any]:
                await http_client.check_egress(request.url, self.egress, number)
                secrets = await http_client.secret_headers(
                    self.core() if request.headers_from else None, request, number
                )
                return await http_client.send(client, request, secrets, number)

            return await with_retries(node, attempt, self._retry_pause)

    @property
    def workflow_name(self) -> str:
        return "node-test"

    def event_id(self, node: str) -> str:
        return f"node-test/{node}/{uuid.uuid4()}"

    async def emit(self, request: EmitRequest, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        async with httpx.AsyncClient(follow_redirects=False) as client:
            sink = EventSink(os.environ.get("DRIFT_KAFKA_BOOTSTRAP"), client, self.egress,
                             self.core() if request.http and request.http.headers_from else None)  # fmt: skip
            try:
                return await with_retries(node, lambda number: sink.publish(request, number), self._retry_pause)
            finally:
                sink.close()

    async def wait_for_input(self, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        raise _WouldWait(message)

    async def compensate(self, error: RunError | None) -> None:
        """A NodeDefinition has no `compensate`: nothing is ever registered to undo."""


async def run_node(
    node: ResolvedNode, namespace: str, run_input: dict[str, Any], context: dict[str, Any], core: Callable[[], Any]
) -> dict[str, Any]:
    """The node's outcome as JSON-ready data: phase, attempts, the context entry or the error."""
    graph = PinnedGraph(workflow_name=f"node-test-{node.name}", workflow_version="0" * 12, start_at=node.name,
                        on_failure=None, input_schema=None, nodes={node.name: node})  # fmt: skip
    runtime = DirectRuntime(namespace, run_input, context, core)
    result: dict[str, Any] = {"node": node.name, "type": node.type}
    began = datetime.now(UTC)
    try:
        done = await step(graph, node, runtime)
    except _WouldWait as waiting:
        options = node.instruction.options if node.instruction else []
        return {**result, "phase": "Waiting", "message": waiting.message, "options": options}
    result["seconds"] = round((datetime.now(UTC) - began).total_seconds(), 3)
    result.update(phase=done.phase, attempts=done.attempts)
    if done.phase == "Failed":
        assert done.error is not None
        result["error"] = {"code": done.error.code, "message": done.error.message}
        return result
    updates = {key: value for key, value in runtime.context.items() if context.get(key) != value}
    result["context"] = updates
    if done.end:
        result["run"] = {"phase": done.end, "output": done.output, "message": done.end_message,
                         "error": done.error.model_dump(mode="json") if done.error else None}  # fmt: skip
    if runtime.waited:
        result["wouldWaitSeconds"] = runtime.waited
    return result
