"""Scopes: parallel branches, map items and compensations, each a cursor with a context of its own.

A scope starts at a node of the workflow's flat node list and runs until a `success` node (its output) or a
`failure` node or an unhandled node failure (`ScopeFailed`). It starts with a copy of its parent's context;
what it writes stays its own. Deterministic workflow code: concurrency is asyncio tasks on Temporal's
workflow event loop, all I/O goes through the `Host` (the workflow running the scopes).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ConfigDict

    from drift.models.run import RunError
    from drift.run_contract import WORKFLOW_TYPE, RunSnapshot, RunStart

    from .cursors import Cursors, MapCounter
    from .graph import PinnedGraph, ResolvedNode
    from .node_attempts import call_emit, call_http
    from .nodes import HANDLERS, SLOW_TYPES, NodeFailed
    from .nodes.base import NO_RESULT, evaluate, node_updates, render_body, run_scope

PACE_NODES = 100
"""Node executions in branches and items between two checkpoints: pure nodes never wait, so without them a
wide map would hold one workflow activation past Temporal's deadlock detector (2 s)."""
TASK_CHECKPOINTS = 5
"""Every this many checkpoints, end the workflow task (a timer) rather than only the activation."""
TASK_END_SECONDS = 0.001
ITEMS_PER_WORKFLOW = 1000
"""A map over more items runs them in batches of this many, each batch a child workflow (`DriftMapBatch`)."""
MAP_BATCH_TYPE = "DriftMapBatch"


class Pacer:
    """Counts scope node executions and makes every scope wait at one shared checkpoint every PACE_NODES.

    A checkpoint is the host's (a local activity: it ends the activation, not the workflow task); every
    TASK_CHECKPOINTS-th one is a short timer instead, which ends the workflow task too, so no task grows
    with the size of a map.
    """

    def __init__(self) -> None:
        self.nodes = 0
        self.gate: asyncio.Task[None] | None = None

    async def pace(self, checkpoint: Callable[[], Awaitable[object]]) -> None:
        self.nodes += 1
        if self.gate is None and self.nodes % PACE_NODES == 0:
            passes = self.nodes // PACE_NODES
            self.gate = asyncio.create_task(self._pass(checkpoint if passes % TASK_CHECKPOINTS else _end_task))
        if self.gate is not None:
            await asyncio.shield(self.gate)

    async def _pass(self, checkpoint: Callable[[], Awaitable[object]]) -> None:
        try:
            await checkpoint()
        finally:
            self.gate = None


async def _end_task() -> None:
    await workflow.sleep(TASK_END_SECONDS)


def join(path: str | None, segment: str) -> str:
    """The instance path of `segment` inside `path` (None: the main path)."""
    return f"{path}/{segment}" if path else segment


class ScopeFailed(Exception):
    """A scope ended in failure: a `failure` node, or a node failure no `onError` handled."""

    def __init__(self, error: RunError) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class Compensable(BaseModel):
    """A completed node with `compensate`: what to undo if its scope (or the run) fails later."""

    model_config = ConfigDict(frozen=True)

    order: int
    node: str
    path: str | None
    start_at: str
    result: Any


class MapBatch(BaseModel):
    """Input of a `DriftMapBatch` child workflow: one batch of a large map's items."""

    graph: PinnedGraph
    node: str
    path: str
    namespace: str
    run_input: dict[str, Any]
    context: dict[str, Any]
    extra: dict[str, Any]
    items: list[Any]
    offset: int
    tolerated: int


class ItemFailure(BaseModel):
    """A map item that failed."""

    index: int
    error: RunError


class MapBatchResult(BaseModel):
    """The outputs of one batch, in input order (failed items hold `{"error": ...}`), and its failures."""

    results: list[Any]
    failures: list[ItemFailure]


class Host(Protocol):
    """What scopes ask of the workflow running them."""

    graph: PinnedGraph
    cursors: Cursors

    @property
    def namespace(self) -> str: ...

    @property
    def run_input(self) -> dict[str, Any]: ...

    def now(self) -> datetime: ...

    def changed(self) -> None:
        """Something the status shows changed: publish a snapshot soon (coalesced)."""

    def next_order(self) -> int:
        """An increasing number: completion order of compensable nodes across scopes."""

    async def pace(self) -> None:
        """Called after every node of a scope: every PACE_NODES nodes, every scope waits for one checkpoint
        (a command the server answers), so one activation never runs for long."""

    async def call_http(self, request: Any, node: ResolvedNode) -> tuple[dict[str, Any], int]: ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait_at(self, path: str | None, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        """Wait for a resume addressed to `node` at `path` (None on the node's timeout)."""

    async def run_child(self, parent: ScopeRun, node: ResolvedNode) -> Any:
        """Run a `workflow` node's child Workflow from scope `parent`: the node's result."""

    def event_id(self, node: str) -> str: ...

    async def emit(self, request: Any, node: ResolvedNode) -> tuple[dict[str, Any], int]: ...


class TemporalHost:
    """The Host's parts both workflows running scopes (DriftRun, DriftMapBatch) do alike, on Temporal."""

    graph: PinnedGraph | None

    @property
    def workflow_name(self) -> str:
        assert self.graph is not None
        return self.graph.workflow_name

    def now(self) -> datetime:
        return workflow.now()

    def event_id(self, node: str) -> str:
        return f"{workflow.info().workflow_id}/{node}/{workflow.uuid4()}"

    async def call_http(self, request: Any, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        return await call_http(request, node)

    async def emit(self, request: Any, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        return await call_emit(request, node)

    async def sleep(self, seconds: float) -> None:
        await workflow.sleep(seconds)

    async def run_child(self, parent: ScopeRun, node: ResolvedNode) -> Any:
        return await run_workflow(parent, node)


@dataclass
class ScopeRun:
    """One scope instance: a cursor through the graph with its own context (implements nodes' `Runtime`)."""

    host: Host
    path: str
    context: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    """Variables besides input, context and error: `item`/`index` in a map item, `compensating`."""
    error: RunError | None = None
    done: list[Compensable] = field(default_factory=list)
    """Completed compensable nodes, including those of the branches and items it joined."""

    @property
    def namespace(self) -> str:
        return self.host.namespace

    def scope(self, **extra: Any) -> dict[str, Any]:
        return run_scope(self.host.run_input, self.context, self.error, **{**self.extra, **extra})

    def now(self) -> datetime:
        return self.host.now()

    async def call_http(self, request: Any, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        return await self.host.call_http(request, node)

    async def sleep(self, seconds: float) -> None:
        await self.host.sleep(seconds)

    async def wait_for_input(self, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        return await self.host.wait_at(self.path, node, message)

    async def run_parallel(self, node: ResolvedNode) -> dict[str, Any]:
        return await run_parallel(self, node)

    async def run_map(self, node: ResolvedNode) -> list[Any]:
        return await run_map(self, node)

    async def run_workflow(self, node: ResolvedNode) -> Any:
        return await self.host.run_child(self, node)

    @property
    def workflow_name(self) -> str:
        return self.host.graph.workflow_name

    def event_id(self, node: str) -> str:
        return self.host.event_id(node)

    async def emit(self, request: Any, node: ResolvedNode) -> tuple[dict[str, Any], int]:
        return await self.host.emit(request, node)

    def child(self, segment: str, extra: dict[str, Any] | None = None) -> ScopeRun:
        """A scope inside this one, starting from a copy of this scope's context."""
        return ScopeRun(self.host, join(self.path, segment), dict(self.context), {**self.extra, **(extra or {})})

    async def execute(self, first: str) -> Any:
        """Run from `first` to the scope's end: its output (the success node's, else its context)."""
        current = first
        while True:
            node = self.host.graph.nodes[current]
            if node.type not in ("parallel", "map"):  # their branches and items are the cursors
                self.host.cursors.enter(self.path, node.name, self.host.now())
            if node.type in SLOW_TYPES:
                self.host.changed()
            try:
                outcome = await HANDLERS[node.type](node, self)
                self.context.update(node_updates(node, outcome, self.scope))
            except NodeFailed as failed:
                error = RunError(node=node.name, path=failed.path or join(self.path, node.name), code=failed.code,
                                 message=failed.message)  # fmt: skip
                if node.on_error and node.type != "failure":
                    self.error, current = error, node.on_error
                    continue
                await self.fail(error)
            finally:
                self.host.cursors.leave(self.path, node.name)
            await self.host.pace()
            if node.compensate:
                result = None if outcome.result is NO_RESULT else outcome.result
                self.done.append(Compensable(order=self.host.next_order(), node=node.name, path=self.path,
                                             start_at=node.compensate, result=result))  # fmt: skip
            if outcome.end == "Succeeded":
                return outcome.run_output if outcome.run_output is not None else dict(self.context)
            if outcome.end == "Failed":
                assert outcome.run_error is not None
                await self.fail(outcome.run_error.model_copy(update={"path": join(self.path, node.name)}))
            assert outcome.next is not None
            current = outcome.next

    async def fail(self, error: RunError) -> None:
        """Compensate this scope's completed nodes, then end it with `error`."""
        await compensate(self, self.done, error)
        self.done = []
        raise ScopeFailed(error)


def _failed(error: RunError, where: str) -> NodeFailed:
    return NodeFailed(error.code, f"{where}: {error.message}", path=error.path)


async def run_parallel(parent: ScopeRun, node: ResolvedNode) -> dict[str, Any]:
    """Run the branches concurrently and join them (all or any); see docs/api.md."""
    block = node.parallel
    assert block is not None
    runs = {branch.name: parent.child(join(node.name, branch.name)) for branch in block.branches}
    outputs: dict[str, Any] = {}
    failures: list[tuple[str, RunError]] = []
    tasks: list[asyncio.Task[None]] = []

    def cancel_others() -> None:
        for task in tasks:
            if task is not asyncio.current_task() and not task.done():
                task.cancel()

    async def branch(name: str, first: str) -> None:
        try:
            outputs[name] = await runs[name].execute(first)
        except ScopeFailed as failed:
            failures.append((name, failed.error))
            if block.join == "all" and block.on_branch_failure == "cancel":
                cancel_others()
            return
        if block.join == "any":
            cancel_others()

    parent.host.cursors.fork(parent.path, node.name, len(runs))
    try:
        tasks.extend(asyncio.create_task(branch(b.name, b.start_at)) for b in block.branches)
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        parent.host.cursors.unfork(parent.path, node.name)
    if block.join == "any" and outputs:
        winner = next(iter(outputs))
        parent.done.extend(runs[winner].done)
        await compensate(parent, _done_of(runs, exclude={winner}), None)
        return {winner: outputs[winner]}
    if failures and (block.join == "all" or not outputs):
        name, error = failures[0]
        await compensate(parent, _done_of(runs, exclude={n for n, _ in failures}), error)
        raise _failed(error, f"branch {name} failed at node {error.node}")
    for run in runs.values():
        parent.done.extend(run.done)
    return {b.name: outputs[b.name] for b in block.branches}


def _done_of(runs: dict[str, ScopeRun], exclude: set[str]) -> list[Compensable]:
    return [entry for name, run in runs.items() if name not in exclude for entry in run.done]


async def run_map(parent: ScopeRun, node: ResolvedNode) -> list[Any]:
    """Run the item scope for each item, `maxConcurrency` at a time; results in input order."""
    block = node.map
    assert block is not None
    items = evaluate(block.items, parent.scope(), "map.items")
    if not isinstance(items, list):
        raise NodeFailed("MAP_ITEMS_NOT_A_LIST", f"map.items gave {type(items).__name__}, not a list")
    tolerated = _tolerated(block.tolerated_failure_count, block.tolerated_failure_percentage, len(items))
    progress = parent.host.cursors.start_map(parent.path, node.name, len(items))
    try:
        if len(items) > ITEMS_PER_WORKFLOW:
            results, failures = await _map_in_batches(parent, node, items, tolerated, progress)
        else:
            results, failures = await map_items(parent, node, items, offset=0, tolerated=tolerated, progress=progress)
    finally:
        parent.host.cursors.end_map(parent.path, node.name)
    if len(failures) > tolerated:
        index, error = failures[0]
        raise NodeFailed("MAP_FAILURES_EXCEEDED", f"{len(failures)} of {len(items)} items failed (tolerated: "
                         f"{tolerated}); item {index} at node {error.node}: {error.code}: {error.message}",
                         path=error.path)  # fmt: skip
    return results


def _tolerated(count: int | None, percentage: float | None, total: int) -> int:
    if count is not None:
        return count
    if percentage is not None:
        return math.floor(total * percentage / 100)
    return 0


async def map_items(
    parent: ScopeRun, node: ResolvedNode, items: list[Any], *, offset: int, tolerated: int, progress: MapCounter
) -> tuple[list[Any], list[tuple[int, RunError]]]:
    """Run `items` (numbered from `offset`) with at most `maxConcurrency` in flight; stop past `tolerated`
    failures. The results in input order (a failed item leaves `{"error": ...}`) and the failures."""
    block = node.map
    assert block is not None
    results: list[Any] = [None] * len(items)
    failures: list[tuple[int, RunError]] = []
    runs: dict[int, ScopeRun] = {}
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < len(items) and len(failures) <= tolerated:
            at, position = position, position + 1
            index = offset + at
            run = runs[at] = parent.child(f"{node.name}[{index}]", {"item": items[at], "index": index})
            progress.running += 1
            try:
                results[at] = await run.execute(block.start_at)
                progress.succeeded += 1
            except ScopeFailed as failed:
                failures.append((index, failed.error))
                results[at] = {"error": failed.error.model_dump(mode="json", exclude_none=True)}
                progress.failed += 1
            finally:
                progress.running -= 1
                parent.host.changed()

    workers = [asyncio.create_task(worker()) for _ in range(min(block.max_concurrency, len(items)))]
    await asyncio.gather(*workers)
    failed = {index for index, _ in failures}
    entries = [entry for at, run in sorted(runs.items()) if offset + at not in failed for entry in run.done]
    if len(failures) > tolerated:
        await compensate(parent, entries, failures[0][1])
    else:
        parent.done.extend(entries)
    return results, failures


async def _map_in_batches(
    parent: ScopeRun, node: ResolvedNode, items: list[Any], tolerated: int, progress: MapCounter
) -> tuple[list[Any], list[tuple[int, RunError]]]:
    """A large map: batches of ITEMS_PER_WORKFLOW items, one child workflow each, one after the other."""
    results: list[Any] = []
    failures: list[tuple[int, RunError]] = []
    for offset in range(0, len(items), ITEMS_PER_WORKFLOW):
        chunk = items[offset : offset + ITEMS_PER_WORKFLOW]
        batch = MapBatch(
            graph=parent.host.graph, node=node.name, path=parent.path, namespace=parent.host.namespace,
            run_input=parent.host.run_input, context=parent.context, extra=parent.extra, items=chunk,
            offset=offset, tolerated=tolerated - len(failures),
        )  # fmt: skip
        progress.running = len(chunk)
        parent.host.changed()
        done: MapBatchResult = await workflow.execute_child_workflow(
            MAP_BATCH_TYPE, batch, id=f"{workflow.info().workflow_id}/{join(parent.path, node.name)}@{offset}",
            result_type=MapBatchResult, parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
        )  # fmt: skip
        results.extend(done.results)
        failures.extend((failure.index, failure.error) for failure in done.failures)
        progress.running = 0
        progress.succeeded += len(chunk) - len(done.failures)
        progress.failed += len(done.failures)
        if len(failures) > tolerated:
            break
    return results, failures


async def run_workflow(parent: ScopeRun, node: ResolvedNode) -> Any:
    """Run the pinned child Workflow as a Temporal child workflow; its output is the node's result."""
    block = node.workflow
    assert block is not None
    child_input = sub_workflow_input(parent.scope(), node)
    version = block.ref.version or node.child_version
    assert version is not None, "the operator pins every sub-workflow's version"
    info = workflow.info()
    start = RunStart(namespace=parent.host.namespace, run_name=join(parent.path, node.name), run_uid=info.workflow_id,
                     workflow_name=block.ref.name, workflow_version=version, input=child_input)  # fmt: skip
    try:
        snapshot: RunSnapshot = await workflow.execute_child_workflow(
            WORKFLOW_TYPE, start, id=f"{info.workflow_id}/{join(parent.path, node.name)}", result_type=RunSnapshot,
            parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
        )  # fmt: skip
    except ChildWorkflowError as exc:
        raise NodeFailed("CHILD_FAILED", f"sub-workflow {block.ref.name}: {exc.cause or exc}") from None
    return sub_workflow_output(node, snapshot.phase, snapshot.error, snapshot.output)


def sub_workflow_input(variables: dict[str, Any], node: ResolvedNode) -> dict[str, Any]:
    """The child's input: the node's `workflow.input` rendered over the parent's variables."""
    assert node.workflow is not None
    child_input = render_body(node.workflow.input, variables, "workflow.input")
    if not isinstance(child_input, dict):
        raise NodeFailed("EXPRESSION_ERROR", "workflow.input: must give an object")
    return child_input


def sub_workflow_output(node: ResolvedNode, phase: str, error: RunError | None, output: Any) -> Any:
    """The node's result from how the child ended: its output, or CHILD_FAILED naming the child's error."""
    assert node.workflow is not None
    if phase != "Succeeded":
        detail = f"{error.code}: {error.message}" if error else phase
        raise NodeFailed("CHILD_FAILED", f"sub-workflow {node.workflow.ref.name} ended {phase}: {detail}")
    return output


async def compensate(parent: ScopeRun, entries: list[Compensable], error: RunError | None) -> None:
    """Run the compensations of `entries`, the last completed first, one after the other.

    Each sees the failing scope's context, `error`, and `compensating` ({node, path, result}). A compensation
    that fails is recorded in the status and the others still run.
    """
    cursors = parent.host.cursors
    for entry in sorted(entries, key=lambda e: e.order, reverse=True):
        record = cursors.compensation(entry.start_at, entry.node, entry.path)
        parent.host.changed()
        run = ScopeRun(parent.host, join(entry.path, f"compensate.{entry.node}"), dict(parent.context),
                       {**parent.extra, "compensating": {"node": entry.node, "path": entry.path,
                                                         "result": entry.result}}, error)  # fmt: skip
        try:
            await run.execute(entry.start_at)
            record.phase = "Succeeded"
        except ScopeFailed as failed:
            record.phase, record.message = "Failed", f"{failed.error.code}: {failed.error.message}"
        parent.host.changed()
