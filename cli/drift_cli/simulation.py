"""`simulate`: a dry run of a whole workflow, with stubbed http responses and resume inputs.

Nothing is started on Temporal and nothing is called: http nodes get their answers from the responses file
through an httpx mock transport, so the worker's own request code (`drift_worker.http_client.send`) turns
them into results or failures, retried under the node's policy; wait nodes advance a simulated clock;
instruction nodes take the next answer given for them; emit nodes send nothing and list their events; a
`workflow` node simulates its child Workflow the same way. The main path is stepped by the worker's own
`drift_worker.interpreter.step` (compensations included), branches, items and compensations by its scopes.

Responses file (YAML or JSON):

    http:                       # by node name; a list is used one entry per attempt, the last one repeats
      fetch-order: {status: 200, body: {id: A-1, amount: 120}}
      sync:
        - {status: 503}
        - {status: 200, body: {synced: true}, headers: {x-trace: abc}}
      flaky: {error: NETWORK_ERROR}  # or TIMEOUT: a request that never got an answer
      pay/charge: {status: 200}      # node charge of the sub-workflow run by node pay (else plain `charge`)
    resume:                     # by instruction node; one answer per visit
      manager-approval: [{choice: approve}]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from drift.models.run import RunError
from drift.validation import DefinitionInvalid, validate_input
from drift_worker import http_client
from drift_worker.cursors import Cursors
from drift_worker.graph import PinnedGraph, ResolvedNode
from drift_worker.interpreter import step
from drift_worker.messages import EmitRequest, HttpRequest
from drift_worker.scopes import (
    ScopeRun,
    compensate,
    join,
    run_map,
    run_parallel,
    sub_workflow_input,
    sub_workflow_output,
)

from .cli_errors import CliError
from .direct_http import with_retries
from .local_run import LocalRun

MAX_SIMULATED_NODES = 10_000
"""A loop that never ends is reported, not run forever."""

ChildGraphs = Callable[[ResolvedNode], PinnedGraph]
"""The child Workflow a `workflow` node runs, resolved as the worker would run it."""


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
    used: dict[str, int] = field(default_factory=dict)
    """Answers taken so far, by section/key (shared by a run and its sub-workflows)."""

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

    def key(self, section: str, at: str, node: str) -> str | None:
        """The answers' key for `node` of the run at sub-workflow path `at`: `at/node` if given, else `node`."""
        answers = getattr(self, section)
        qualified = join(at, node)
        return qualified if qualified in answers else node if node in answers else None

    def next(self, section: str, key: str) -> dict[str, Any] | None:
        """http: one answer per attempt, the last repeating; resume: one per visit, then none."""
        answers = getattr(self, section)[key]
        used = self.used.get(f"{section}/{key}", 0)
        self.used[f"{section}/{key}"] = used + 1
        if section == "http":
            return answers[min(used, len(answers) - 1)]
        return answers[used] if used < len(answers) else None


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


class SimulatedRuntime(LocalRun):
    """The worker's MainPath and scope Host protocols over stubs and a simulated clock."""

    def __init__(
        self, graph: PinnedGraph, namespace: str, run_input: dict[str, Any], responses: Responses,
        children: ChildGraphs, *, at: str = "", clock: datetime | None = None,
    ) -> None:  # fmt: skip
        super().__init__(namespace, run_input)
        self.graph = graph
        self.cursors = Cursors()
        self.responses = responses
        self.children = children
        self.at = at
        """Where this run is: "" for the workflow simulated, the `workflow` nodes' path for a sub-workflow."""
        self.clock = clock or datetime.now(UTC)
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.sub_workflows: dict[str, dict[str, Any]] = {}

    @property
    def workflow_name(self) -> str:
        return self.graph.workflow_name

    def event_id(self, node: str) -> str:
        return f"simulated/{join(self.at, node)}/{self.next_order()}"

    async def emit(self, request: EmitRequest, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        """Nothing is sent: the event is listed in the output, as its sink would have taken it."""
        self.events.append({"node": join(self.at, node.name), **request.model_dump(exclude_none=True)})
        if request.topic is not None:
            return {"id": request.attributes["id"], "topic": request.topic, "partition": 0, "offset": 0}, 1
        return {"id": request.attributes["id"], "status": 202}, 1

    def changed(self) -> None:
        """A simulation shows its path at the end."""

    async def pace(self) -> None:
        """A simulation has no activations to keep short."""

    def now(self) -> datetime:
        return self.clock

    async def sleep(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)

    def _main(self) -> ScopeRun:
        return ScopeRun(self, "", self.context, error=self.error, done=self.compensable)

    async def run_parallel(self, node: ResolvedNode) -> dict[str, Any]:
        return await run_parallel(self._main(), node)

    async def run_map(self, node: ResolvedNode) -> list[Any]:
        return await run_map(self._main(), node)

    async def run_workflow(self, node: ResolvedNode) -> Any:
        return await self.run_child(self._main(), node)

    async def compensate(self, error: RunError | None) -> None:
        entries, self.compensable = self.compensable, []
        await compensate(self._main(), entries, error)

    async def run_child(self, parent: ScopeRun, node: ResolvedNode) -> Any:
        """Simulate the child Workflow on the same responses and clock; its end decides the node's result."""
        child_input = sub_workflow_input(parent.scope(), node)
        at = join(self.at, join(parent.path, node.name))
        child = SimulatedRuntime(self.children(node), self.namespace, child_input, self.responses, self.children,
                                 at=at, clock=self.clock)  # fmt: skip
        result = await run_simulation(child)
        self.clock = child.clock
        self.requests.extend(child.requests)
        self.events.extend(child.events)
        self.sub_workflows[join(parent.path, node.name)] = result
        if result["phase"] == "Waiting":
            raise _Waiting(child.graph.nodes[result["waitingFor"]["node"]], result["waitingFor"]["message"])
        error = RunError.model_validate(result["error"]) if result.get("error") else None
        return sub_workflow_output(node, result["phase"], error, result.get("output"))

    async def call_http(self, request: HttpRequest, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        key = self.responses.key("http", self.at, node.name)
        if key is None:
            raise CliError(f"responses: no http answer for node {join(self.at, node.name)} "
                           f"({request.method} {request.url})")  # fmt: skip

        def answer(sent: httpx.Request) -> httpx.Response:
            stub = self.responses.next("http", key) or {}
            status = stub.get("status", stub.get("error", 200))
            sent_request = {"node": join(self.at, node.name), "method": sent.method, "url": str(sent.url),
                            "body": request.body}  # fmt: skip
            self.requests.append({**sent_request, "status": status})
            return _stub_response(stub, sent)

        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await with_retries(node, lambda attempt: http_client.send(client, request, {}, attempt), self.sleep)

    async def wait_at(self, path: str | None, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        return await self.wait_for_input(node, message)

    async def wait_for_input(self, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        assert node.instruction is not None
        key = self.responses.key("resume", self.at, node.name)
        answer = self.responses.next("resume", key) if key else None
        if answer is None:
            if node.instruction.timeout_seconds:
                await self.sleep(node.instruction.timeout_seconds)
                return None
            raise _Waiting(node, message)
        options = node.instruction.options
        if options and answer.get("choice") not in options:
            raise CliError(f"responses: resume.{key}: input.choice must be one of {', '.join(options)}")
        try:
            validate_input(node.instruction.input_schema, answer)
        except DefinitionInvalid as exc:
            raise CliError(f"responses: resume.{key}: {exc}") from None
        return answer


async def simulate(
    graph: PinnedGraph, run_input: dict[str, Any], responses: Responses, namespace: str, children: ChildGraphs
) -> dict[str, Any]:
    """The path a run would take and how it ends (phase, output, error), as JSON-ready data."""
    try:
        validate_input(graph.input_schema, run_input)
    except DefinitionInvalid as exc:
        raise CliError(f"input does not fit workflow {graph.workflow_name}'s inputSchema: {exc}") from None
    return await run_simulation(SimulatedRuntime(graph, namespace, run_input, responses, children))


async def run_simulation(runtime: SimulatedRuntime) -> dict[str, Any]:
    """Step `runtime`'s workflow from its first node to its end, or to where it would wait."""
    graph = runtime.graph
    started = runtime.clock
    path: list[dict[str, Any]] = []
    result: dict[str, Any] = {"workflow": graph.workflow_name, "phase": "Running", "path": path}
    try:  # as a sub-workflow's run checks its input when it starts
        validate_input(graph.input_schema, runtime.input)
    except DefinitionInvalid as exc:
        error = RunError(code=exc.reason, message=str(exc))
        return {**result, "phase": "Failed", "message": error.message, "error": error.model_dump(mode="json")}
    current = graph.start_at
    for _ in range(MAX_SIMULATED_NODES):
        node = graph.nodes[current]
        try:
            done = await step(graph, node, runtime)
        except _Waiting as waiting:
            result.update(phase="Waiting", currentNode=node.name, message=f"Waiting for input on {waiting.node.name}",
                          waitingFor={"node": waiting.node.name, "message": waiting.message,
                                      "options": waiting.node.instruction.options if waiting.node.instruction
                                      else []})  # fmt: skip
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
    compensations = [
        entry.model_dump(mode="json", by_alias=True, exclude_none=True) for entry in runtime.cursors.compensation_list()
    ]
    result.update(
        context=runtime.context,
        requests=runtime.requests,
        **({"events": runtime.events} if runtime.events else {}),
        simulatedSeconds=(runtime.clock - started).total_seconds(),
        **({"compensations": compensations} if compensations else {}),
        **({"subWorkflows": runtime.sub_workflows} if runtime.sub_workflows else {}),
    )
    return result
