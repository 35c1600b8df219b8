"""`simulate`: a dry run of a whole workflow, with stubbed http responses and resume inputs.

Nothing is started on Temporal and nothing is called: http nodes get their answers from the responses file
through an httpx mock transport, so the worker's own request code (`drift_worker.http_client.send`) turns
them into results or failures, retried under the node's policy; wait nodes advance a simulated clock;
instruction nodes take the next answer given for them. The nodes themselves run through the worker's
handlers, stepped by `interpreter_step.step` (DriftRunWorkflow._interpret's semantics).

Responses file (YAML or JSON):

    http:                       # by node name; a list is used one entry per attempt, the last one repeats
      fetch-order: {status: 200, body: {id: A-1, amount: 120}}
      sync:
        - {status: 503}
        - {status: 200, body: {synced: true}, headers: {x-trace: abc}}
      flaky: {error: NETWORK_ERROR}  # or TIMEOUT: a request that never got an answer
    resume:                     # by instruction node; one answer per visit
      manager-approval: [{choice: approve}]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from drift.models.run import RunError
from drift.validation import DefinitionInvalid, validate_input
from drift_worker import http_client
from drift_worker.cursors import Cursors
from drift_worker.graph import PinnedGraph, ResolvedNode
from drift_worker.messages import HttpRequest
from drift_worker.nodes.base import run_scope
from drift_worker.scopes import ScopeRun, run_map, run_parallel

from .cli_errors import CliError
from .direct_http import with_retries
from .interpreter_step import step

MAX_SIMULATED_NODES = 10_000
"""A loop that never ends is reported, not run forever."""


class _Waiting(Exception):
    """An instruction node with no answer left and no timeout: the run would wait here."""

    def __init__(self, node: ResolvedNode, message: str) -> None:
        super().__init__(node.name)
        self.node = node
        self.message = message


@dataclass
class Responses:
    http: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    resume: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, document: dict[str, Any]) -> Responses:
        unknown = set(document) - {"http", "resume"}
        if unknown:
            raise CliError(f"responses: unknown key {sorted(unknown)[0]!r} (expected http and resume)")
        found = cls()
        for section in ("http", "resume"):
            value = document.get(section) or {}
            if not isinstance(value, dict):
                raise CliError(f"responses: {section} must map node names to answers")
            for node, given in value.items():
                answers = given if isinstance(given, list) else [given]
                for index, answer in enumerate(answers):
                    if not isinstance(answer, dict):
                        raise CliError(f"responses: {section}.{node}[{index}] must be a mapping")
                getattr(found, section)[node] = list(answers)
        return found


def _stub_response(stub: dict[str, Any], request: httpx.Request) -> httpx.Response:
    error = stub.get("error")
    if error == "TIMEOUT":
        raise httpx.ReadTimeout("stubbed timeout", request=request)
    if error:
        raise httpx.ConnectError(str(stub.get("message") or "stubbed network error"), request=request)
    body = stub.get("body")
    headers = {str(k): str(v) for k, v in (stub.get("headers") or {}).items()}
    if body is None:
        content = b""
    elif isinstance(body, str):
        content = body.encode()
        headers.setdefault("content-type", "text/plain")
    else:
        content = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    return httpx.Response(int(stub.get("status", 200)), headers=headers, content=content, request=request)


class SimulatedRuntime:
    """The Runtime protocol (drift_worker.nodes.base) over stubs and a simulated clock."""

    def __init__(self, graph: PinnedGraph, namespace: str, run_input: dict[str, Any], responses: Responses) -> None:
        self.graph = graph
        self.cursors = Cursors()
        self.order = 0
        self._namespace = namespace
        self.input = run_input
        self.responses = responses
        self.context: dict[str, Any] = {}
        self.error: RunError | None = None
        self.clock = datetime.now(UTC)
        self.requests: list[dict[str, Any]] = []
        self._used: dict[str, int] = {}

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def run_input(self) -> dict[str, Any]:
        return self.input

    def scope(self, **extra: Any) -> dict[str, Any]:
        return run_scope(self.input, self.context, self.error, **extra)

    def changed(self) -> None:
        """A simulation shows its path at the end."""

    def next_order(self) -> int:
        self.order += 1
        return self.order

    async def pace(self) -> None:
        """A simulation has no activations to keep short."""

    async def wait_at(self, path: str | None, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        return await self.wait_for_input(node, message)

    def _main(self) -> ScopeRun:
        return ScopeRun(self, "", self.context, error=self.error)

    async def run_parallel(self, node: ResolvedNode) -> dict[str, Any]:
        return await run_parallel(self._main(), node)

    async def run_map(self, node: ResolvedNode) -> list[Any]:
        return await run_map(self._main(), node)

    async def run_workflow(self, node: ResolvedNode) -> Any:
        raise CliError(f"simulate does not run sub-workflows: node {node.name} runs Workflow {node.workflow.ref.name}")

    def now(self) -> datetime:
        return self.clock

    async def sleep(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)

    def _next(self, section: str, node: str) -> dict[str, Any] | None:
        answers = getattr(self.responses, section).get(node) or []
        used = self._used.get(f"{section}/{node}", 0)
        self._used[f"{section}/{node}"] = used + 1
        if section == "http":
            return answers[min(used, len(answers) - 1)] if answers else None
        return answers[used] if used < len(answers) else None

    async def call_http(self, request: HttpRequest, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        if not self.responses.http.get(node.name):
            raise CliError(f"responses: no http answer for node {node.name} ({request.method} {request.url})")

        def answer(sent: httpx.Request) -> httpx.Response:
            stub = self._next("http", node.name) or {}
            status = stub.get("status", stub.get("error", 200))
            sent_request = {"node": node.name, "method": sent.method, "url": str(sent.url), "body": request.body}
            self.requests.append({**sent_request, "status": status})
            return _stub_response(stub, sent)

        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await with_retries(node, lambda attempt: http_client.send(client, request, {}, attempt), self.sleep)

    async def wait_for_input(self, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        assert node.instruction is not None
        answer = self._next("resume", node.name)
        if answer is None:
            if node.instruction.timeout_seconds:
                await self.sleep(node.instruction.timeout_seconds)
                return None
            raise _Waiting(node, message)
        options = node.instruction.options
        if options and answer.get("choice") not in options:
            raise CliError(f"responses: resume.{node.name}: input.choice must be one of {', '.join(options)}")
        try:
            validate_input(node.instruction.input_schema, answer)
        except DefinitionInvalid as exc:
            raise CliError(f"responses: resume.{node.name}: {exc}") from None
        return answer


async def simulate(
    graph: PinnedGraph, run_input: dict[str, Any], responses: Responses, namespace: str
) -> dict[str, Any]:
    """The path a run would take and how it ends (phase, output, error), as JSON-ready data."""
    try:
        validate_input(graph.input_schema, run_input)
    except DefinitionInvalid as exc:
        raise CliError(f"input does not fit workflow {graph.workflow_name}'s inputSchema: {exc}") from None
    runtime = SimulatedRuntime(graph, namespace, run_input, responses)
    started = runtime.clock
    path: list[dict[str, Any]] = []
    result: dict[str, Any] = {"workflow": graph.workflow_name, "phase": "Running", "path": path}
    current = graph.start_at
    for _ in range(MAX_SIMULATED_NODES):
        node = graph.nodes[current]
        try:
            done = await step(graph, node, runtime)
        except _Waiting as waiting:
            result.update(phase="Waiting", currentNode=node.name, message=f"Waiting for input on {node.name}",
                          waitingFor={"node": node.name, "message": waiting.message,
                                      "options": node.instruction.options if node.instruction else []})  # fmt: skip
            break
        path.append({"name": node.name, "type": node.type, "phase": done.phase, "attempts": done.attempts,
                     "message": done.message})  # fmt: skip
        if done.end:
            result.update(phase=done.end, output=done.output, message=done.end_message or done.end,
                          error=done.error.model_dump(mode="json") if done.error else None)  # fmt: skip
            break
        assert done.next is not None
        current = done.next
    else:
        result.update(currentNode=current, message=f"stopped after {MAX_SIMULATED_NODES} nodes (a loop?)")
    result.update(
        context=runtime.context,
        requests=runtime.requests,
        simulatedSeconds=(runtime.clock - started).total_seconds(),
    )
    return result
