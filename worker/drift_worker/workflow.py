"""The DriftRun workflow: interprets a pinned workflow version node by node.

Deterministic: node handlers evaluate CEL in the workflow; all I/O (definitions, HTTP, HBase, Redis)
happens in activities. The context is persisted to HBase and the snapshot published through one local
activity (no task-queue round trip) after every node; consecutive pure nodes computed without a pause share
one, after the last of them (see `_persist`). Long or looping runs continue-as-new at a node
boundary, carrying their state, well before Temporal's history warnings.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from drift.event_keys import unscoped_key
    from drift.models.run import (
        MAX_STATUS_CURSORS,
        MAX_STATUS_NODES,
        AwaitedEvent,
        NodeExecution,
        Phase,
        RunError,
        WaitingFor,
    )
    from drift.run_contract import (
        MAX_STATUS_OUTPUT_BYTES,
        QUERY_SNAPSHOT,
        SIGNAL_EVENT,
        UPDATE_RESUME,
        WORKFLOW_TYPE,
        ResumeRequest,
        RunSnapshot,
        RunStart,
    )
    from drift.validation import DefinitionInvalid, validate_input

    from .activity_api import RunActivities
    from .context_values import ValueCache, ValueRef, json_size, named_keys
    from .cursors import Cursors
    from .graph import PinnedGraph, ResolvedNode
    from .instances import path_patterns, resume_key
    from .interpreter import Step, step
    from .messages import CompletedNode, EventDelivery, EventWait, LoadGraph, LoadValue, ProgressUpdate, StoreValue
    from .nodes import SLOW_TYPES, NodeFailed, Outcome
    from .nodes.base import node_updates, run_scope
    from .scopes import Compensable, Pacer, ScopeRun, TemporalHost, compensate, run_map, run_parallel

MAX_NODES_PER_RUN = 1000
"""Node executions in one Temporal run before continuing as new (about 2 history events each)."""
MAX_HISTORY_EVENTS = 8000
"""Continue as new past this history length too (Temporal warns at 10,240 events)."""
MAX_PERSISTS_IN_FLIGHT = 32
"""Context persists a run may have started but not yet seen complete (back-pressure on long pure chains)."""
MAX_NODES_HELD = 32
"""Pure nodes whose persist is held back before one goes out and the run pauses for it (keeps tasks short)."""
OUTPUT_KEY = "_output"
"""Context key of the run's output (node names cannot start with `_`)."""
EVENTS_REMEMBERED = 100
"""Ids of taken events a run keeps (and carries across continue-as-new), so a redelivery is ignored."""
RESUMES_REMEMBERED = 50
"""Accepted resume indexes a run keeps (and carries across continue-as-new): the last ones accepted."""
RESUME_ONCE = "resume-once-across-runs"
"""Patch: a resume index accepted before (also before a continue-as-new) is answered, not applied again."""
CONTEXT_VALUES = "large-context-values-in-hbase"
"""Patch: a context value over the inline limit is stored in HBase and referenced; the context is bounded."""
TOPIC_KEYS = "event-keys-scoped-by-topic"
"""Patch: an event node's correlation key starts with its topic (before: `{type}/{path}={value}` only)."""
PURE_NODES_PERSISTED_TOGETHER = "pure-nodes-persisted-together"
"""Patch: the persist after a pure node is held back while the interpreter goes on without pausing; the next
persist (before a wait, a side effect, the end, or when it pauses) covers it (before: one local activity each)."""
VISIBLE_WHILE_RUNNING = SLOW_TYPES | {"parallel", "map"}
"""Node types published as the current node before they run (pure nodes take no time)."""
LOCAL = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
}
"""Options of Drift's own activities (graph, progress, context values): retried until they succeed."""


class CarriedState(BaseModel):
    """What a run carries across continue-as-new."""

    graph: PinnedGraph
    context: dict[str, Any]
    current: str
    sequence: int
    nodes_completed: int
    history: list[NodeExecution]
    pending: dict[str, list[dict[str, Any]]]
    accepted: list[int]
    error: RunError | None
    started_at: datetime
    externalized: dict[str, ValueRef] = {}
    """Context keys whose value is stored in HBase (the context holds a placeholder)."""
    compensable: list[Compensable] = []
    """Completed nodes with `compensate`, to undo if the run fails later."""
    arrived: dict[str, list[dict[str, Any]]] = {}
    """Events delivered for a correlation key and not taken yet."""
    taken: list[str] = []
    """Ids of the events event nodes took (the last EVENTS_REMEMBERED)."""


@workflow.defn(name=WORKFLOW_TYPE)
class DriftRunWorkflow(TemporalHost):
    """One WorkflowRun: the interpreter, its `snapshot` query and its `resume` update."""

    @workflow.init
    def __init__(self, start: RunStart) -> None:
        self.start = start
        carried = CarriedState.model_validate(start.carried) if start.carried else None
        self.graph: PinnedGraph | None = carried.graph if carried else None
        self.context: dict[str, Any] = carried.context if carried else {}
        self.current: str | None = carried.current if carried else None
        self.sequence = carried.sequence if carried else 0
        self.nodes_completed = carried.nodes_completed if carried else 0
        self.history: list[NodeExecution] = carried.history if carried else []
        self.pending: dict[str, list[dict[str, Any]]] = carried.pending if carried else {}
        self.accepted: list[int] = carried.accepted if carried else []
        self.error: RunError | None = carried.error if carried else None
        self.started_at: datetime = carried.started_at if carried else workflow.now()
        self.externalized: dict[str, ValueRef] = carried.externalized if carried else {}
        self.compensable: list[Compensable] = carried.compensable if carried else []
        self.arrived: dict[str, list[dict[str, Any]]] = carried.arrived if carried else {}
        self.taken: list[str] = carried.taken if carried else []
        self.order = max((entry.order for entry in self.compensable), default=0)
        self.cursors = Cursors()
        self.pacer = Pacer()
        self.publishing: asyncio.Task[None] | None = None
        self.finished = False
        """The final snapshot is out: nothing is published after it."""
        self.republish = False
        self.values = ValueCache()
        self.waiting: WaitingFor | None = None
        self.persisting: list[Any] = []
        self.held: ProgressUpdate | None = None
        """The newest update not persisted yet (pure nodes persisted together)."""
        self.unreported: list[CompletedNode] = []
        """Node executions no persist started so far carries (their metrics go with the next)."""
        self.sending: asyncio.Task[None] | None = None
        self.last = RunSnapshot(phase="Running", started_at=self.started_at, sequence=self.sequence)

    # The Runtime protocol (what node handlers may use) -------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.start.namespace

    def scope(self, **extra: Any) -> dict[str, Any]:
        context = self.context
        if self.externalized:  # the stored values the node names are cached (`prepare`): read them
            loaded = {key: self.values.get(key, ref) for key, ref in self.externalized.items()}
            context = {**context, **{key: value for key, value in loaded.items() if value is not None}}
        return run_scope(self.start.input, context, self.error, **extra)

    async def wait_for_input(self, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        assert node.instruction is not None
        if not self.pending.get(node.name):
            self.waiting = WaitingFor(
                node=node.name, message=message, options=node.instruction.options, since=workflow.now()
            )
            await self._persist("Waiting", message=f"Waiting for input on {node.name}")
            try:
                await workflow.wait_condition(
                    lambda: bool(self.pending.get(node.name)), timeout=node.instruction.timeout_seconds
                )
            except TimeoutError:
                return None
            finally:
                self.waiting = None
        return self.pending[node.name].pop(0)

    async def run_parallel(self, node: ResolvedNode) -> dict[str, Any]:
        return await run_parallel(self._main_scope(), node)

    async def run_map(self, node: ResolvedNode) -> list[Any]:
        return await run_map(self._main_scope(), node)

    async def run_workflow(self, node: ResolvedNode) -> Any:
        return await self.run_child(self._main_scope(), node)

    # The scope Host (what parallel branches, map items and compensations use) ---------------------------

    @property
    def run_input(self) -> dict[str, Any]:
        return self.start.input

    @functools.cached_property
    def patterns(self) -> dict[str, str | None]:
        """Where each node's instances run (for addressing resumes)."""
        assert self.graph is not None
        return path_patterns(self.graph)

    def _main_scope(self) -> ScopeRun:
        """The main path as a scope: the parent of the branches, items and compensations it starts."""
        return ScopeRun(self, "", self.scope()["context"], error=self.error, done=self.compensable)

    def next_order(self) -> int:
        self.order += 1
        return self.order

    async def wait_at(self, path: str | None, node: ResolvedNode, message: str) -> dict[str, Any] | None:
        assert node.instruction is not None
        key = f"{path}:{node.name}"
        if not self.pending.get(key):
            waiting = WaitingFor(node=node.name, path=path, message=message, options=node.instruction.options,
                                 since=workflow.now())  # fmt: skip
            timeout = node.instruction.timeout_seconds
            if not await self._wait_as_cursor(path, waiting, lambda: bool(self.pending.get(key)), timeout):
                return None
        return self.pending[key].pop(0)

    async def await_event(self, node: ResolvedNode, wait: EventWait) -> dict[str, Any] | None:
        return await self.await_event_at(None, node, wait)

    async def await_event_at(self, path: str | None, node: ResolvedNode, wait: EventWait) -> dict[str, Any] | None:
        """Register the wait, take an event already in the inbox or wait for the `drift.event` signal."""
        assert node.event is not None
        wait = wait.model_copy(update={"workflow_id": workflow.info().workflow_id})
        if not workflow.patched(TOPIC_KEYS):  # a run that registered its wait before keys had topics
            wait = wait.model_copy(update={"key": unscoped_key(wait.topic, wait.key)})
        for event in await workflow.execute_local_activity_method(RunActivities.register_wait, wait, **LOCAL):
            self._offer(wait.key, event)
        arrived = bool(self.arrived.get(wait.key))
        if not arrived:
            timeout, now = node.event.timeout_seconds, workflow.now()
            waiting = WaitingFor(node=node.name, path=path, message=f"await {wait.type}", since=now,
                                 event=AwaitedEvent(type=wait.type, key=wait.key),
                                 timeout_at=now + timedelta(seconds=timeout) if timeout else None)  # fmt: skip
            arrived = await self._wait_as_cursor(path, waiting, lambda: bool(self.arrived.get(wait.key)), timeout)
        await workflow.execute_local_activity_method(RunActivities.unregister_wait, wait, **LOCAL)
        if not arrived:
            return None
        event = self.arrived[wait.key].pop(0)
        self.taken = [*self.taken, str(event.get("id"))][-EVENTS_REMEMBERED:]
        return event

    async def _wait_as_cursor(
        self, path: str | None, waiting: WaitingFor, ready: Callable[[], bool], seconds: float | None
    ) -> bool:
        """Show `waiting` at `path` until `ready()` (True) or the timeout (False)."""
        self.cursors.wait(path or "", waiting)
        self.changed()
        try:
            await workflow.wait_condition(ready, timeout=seconds)
            return True
        except TimeoutError:
            return False
        finally:
            self.cursors.resumed(path or "", waiting.node, workflow.now())
            self.changed()

    def _offer(self, key: str, event: dict[str, Any]) -> None:
        """Queue an event for `key` unless it was taken or is queued already (a redelivery)."""
        queued = self.arrived.setdefault(key, [])
        if event.get("id") not in self.taken and all(e.get("id") != event.get("id") for e in queued):
            queued.append(event)

    async def pace(self) -> None:
        await self.pacer.pace(lambda: self._persist(self._cursor_phase()))

    def _cursor_phase(self) -> Phase:
        return "Waiting" if self.cursors.waiting and not self.cursors.running() else "Running"

    def changed(self) -> None:
        """Publish a snapshot of the cursors soon: one persist in flight at a time, the changes coalesced."""
        if self.finished:
            return
        if self.publishing is not None:
            self.republish = True
            return
        self.publishing = asyncio.create_task(self._publish_changes())

    async def _publish_changes(self) -> None:
        try:
            self.republish = True
            while self.republish and not self.finished:
                self.republish = False
                await self._persist(self._cursor_phase())
        finally:
            self.publishing = None

    # Query and update ----------------------------------------------------------------------------------

    @workflow.query(name=QUERY_SNAPSHOT)
    def snapshot(self) -> RunSnapshot:
        """The latest snapshot (what the operator shows on the WorkflowRun)."""
        return self.last

    @workflow.signal(name=SIGNAL_EVENT)
    def deliver_event(self, delivery: EventDelivery) -> None:
        """An event for a key this run waits (or waited) for: queued for the event node."""
        self._offer(delivery.key, delivery.event)

    @workflow.update(name=UPDATE_RESUME)
    async def resume(self, request: ResumeRequest) -> str:
        """Accept an answer for an instruction node (queued if the run has not reached it yet)."""
        await workflow.wait_condition(lambda: self.graph is not None)
        key, problem = self._resume_target(request)
        if problem:
            raise ApplicationError(problem, type="ResumeRejected")
        if workflow.patched(RESUME_ONCE) and self._accepted_before(request.index):
            return "accepted"
        assert key is not None
        self.pending.setdefault(key, []).append(request.input)
        self.accepted = [*self.accepted, request.index][-RESUMES_REMEMBERED:]
        return "accepted"

    @resume.validator
    def validate_resume(self, request: ResumeRequest) -> None:
        """Refuse bad input before it enters history (once the graph is known)."""
        if self.graph is not None and (problem := self._resume_target(request)[1]):
            raise ValueError(problem)

    def _accepted_before(self, index: int) -> bool:
        """Whether `spec.resume[index]` was accepted already, in this run or one it continued from.

        Temporal de-duplicates update ids within one run only. `accepted` holds the last indexes accepted;
        the operator delivers entries in order, so an index below all of them was settled (accepted, or
        refused, which its validation does again) before they were delivered.
        """
        full = len(self.accepted) >= RESUMES_REMEMBERED
        return index in self.accepted or (full and index < min(self.accepted))

    def _resume_target(self, request: ResumeRequest) -> tuple[str | None, str | None]:
        """(the pending-input key the entry goes to, None), or (None, why it is refused)."""
        assert self.graph is not None
        node = self.graph.nodes.get(request.node)
        if node is None or node.instruction is None:
            return None, f'resume[{request.index}]: "{request.node}" is not an instruction node of this workflow'
        key, problem = resume_key(self.patterns, self.cursors, request)
        if problem:
            return None, problem
        options = node.instruction.options
        if options and request.input.get("choice") not in options:
            return None, f"resume[{request.index}]: input.choice must be one of {', '.join(options)}"
        try:
            validate_input(node.instruction.input_schema, request.input)
        except DefinitionInvalid as exc:
            return None, f"resume[{request.index}]: {exc}"
        return key, None

    # The interpreter -----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: RunStart) -> RunSnapshot:
        if self.graph is None:
            self.graph = await workflow.execute_local_activity_method(
                RunActivities.load_graph,
                LoadGraph(namespace=start.namespace, workflow_name=start.workflow_name,
                          workflow_version=start.workflow_version),
                **LOCAL,
            )  # fmt: skip
            self.current = self.graph.start_at  # the first node's own persist publishes the first snapshot
            try:  # the operator checked a run's input already; a sub-workflow's is checked here
                validate_input(self.graph.input_schema, start.input)
            except DefinitionInvalid as exc:
                error = RunError(code=exc.reason, message=str(exc))
                return await self._persist("Failed", error=error, message=error.message, final=True)
        try:
            return await self._interpret()
        except asyncio.CancelledError:
            self.persisting, self.held = [], None  # cancelled with the rest; the final write supersedes them
            await self._persist("Cancelled", message="Cancelled (spec.cancel)", final=True)
            raise

    async def _interpret(self) -> RunSnapshot:
        assert self.graph is not None
        assert self.current is not None
        executed = 0
        while True:
            if executed >= MAX_NODES_PER_RUN or self._history_long():
                await self._settle()
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self.start.model_copy(update={"carried": self._carry()}))
            node = self.graph.nodes[self.current]
            began = workflow.now()
            if node.type in VISIBLE_WHILE_RUNNING:
                await self._persist("Running")
            executed += 1
            done = await step(self.graph, node, self)
            execution = self._record(done, began)
            if done.phase == "Succeeded":
                self.nodes_completed += 1
            if done.end:
                return await self._persist(done.end, output=done.output, error=done.error, message=done.end_message,
                                           final=True, completed=execution, began=began)  # fmt: skip
            assert done.next is not None
            self.current = done.next
            await self._persist("Running", completed=execution, began=began, settle=False)

    # The MainPath protocol (what the interpreter's step uses besides the Runtime) ---------------------------

    async def compensate(self, error: RunError | None) -> None:
        """Run the compensations of the completed nodes, the latest first; they are then done with."""
        entries, self.compensable = self.compensable, []
        await compensate(self._main_scope(), entries, error)

    async def store(self, node: ResolvedNode, outcome: Outcome) -> None:
        """Put the node's output (after its output expression) and direct updates into the context."""
        updates = node_updates(node, outcome, self.scope)
        assert self.graph is not None
        inline = self.graph.limits.inline_bytes
        large = {key: size for key, value in updates.items() if (size := json_size(value)) > inline}
        stored: set[str] = set()
        if large and workflow.patched(CONTEXT_VALUES):
            stored = await self._externalize(updates, large)
        for key in updates.keys() - stored:
            self.externalized.pop(key, None)
        self.context.update(updates)

    async def _externalize(self, updates: dict[str, Any], large: dict[str, int]) -> set[str]:
        """Store the `large` values of `updates` in HBase and put placeholders in their place; their keys.

        Raises ContextTooLarge (a node failure: onError and onFailure apply) if the context would outgrow the
        run's limit; the context is then left as it was.
        """
        assert self.graph is not None
        kept = sum(self._size(key) for key in self.context if key not in updates)
        total = kept + sum(large.get(key) or json_size(value) for key, value in updates.items())
        limit = self.graph.limits.max_bytes
        if total > limit:
            raise NodeFailed(
                "ContextTooLarge", f"the context would hold {total} bytes, over the run's limit of {limit} bytes"
            )
        execution_id = workflow.info().workflow_id
        for key, size in large.items():
            ref = ValueRef(column=f"value/{key}/{self.sequence}", bytes=size)
            await workflow.execute_local_activity_method(
                RunActivities.store_value,
                StoreValue(workflow_id=execution_id, column=ref.column, value=updates[key]),
                **LOCAL,
            )
            self.values.put(key, ref, updates[key], keep=set(large))
            self.externalized[key] = ref
            updates[key] = ref.placeholder(execution_id)
        return set(large)

    def _size(self, key: str) -> int:
        ref = self.externalized.get(key)
        return ref.bytes if ref else json_size(self.context[key])

    async def prepare(self, node: ResolvedNode) -> None:
        """Cache the stored values the node's expressions name, so `scope()` gives them (see context_values)."""
        if not self.externalized:
            return
        named = named_keys(node.model_dump_json(), list(self.externalized))
        for key in named:
            ref = self.externalized[key]
            if self.values.get(key, ref) is None:
                loaded = await workflow.execute_activity_method(
                    RunActivities.load_value,
                    LoadValue(workflow_id=workflow.info().workflow_id, column=ref.column),
                    **LOCAL,
                )
                self.values.put(key, ref, loaded.value, keep=set(named))

    def _record(self, done: Step, began: datetime) -> NodeExecution:
        execution = NodeExecution(name=done.node.name, type=done.node.type, phase=done.phase, attempts=done.attempts,
                                  started_at=began, finished_at=done.finished_at, message=done.message)  # fmt: skip
        self.history = [*self.history, execution][-MAX_STATUS_NODES:]
        return execution

    def _history_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > MAX_HISTORY_EVENTS

    def _carry(self) -> dict[str, Any]:
        assert self.graph is not None
        assert self.current is not None
        return CarriedState(
            graph=self.graph, context=self.context, current=self.current, sequence=self.sequence,
            nodes_completed=self.nodes_completed, history=self.history, pending=self.pending,
            accepted=self.accepted, error=self.error, started_at=self.started_at, externalized=self.externalized,
            compensable=self.compensable, arrived=self.arrived, taken=self.taken,
        ).model_dump(mode="json")  # fmt: skip

    async def _settle(self) -> None:
        """Persist what is held back, then wait until every persist started so far has completed."""
        self._send_held()
        pending, self.persisting = self.persisting, []
        await asyncio.gather(*pending)

    async def _send_when_paused(self) -> None:
        """A task: it runs once the interpreter pauses (awaits an activity, a timer, a condition)."""
        self.sending = None
        self._send_held()

    def _send_held(self) -> None:
        update, self.held = self.held, None
        if update is not None:
            self._start_persist(update)

    def _start_persist(self, update: ProgressUpdate) -> None:
        self.unreported = []
        self.persisting.append(workflow.start_local_activity_method(RunActivities.persist_progress, update, **LOCAL))

    async def _persist(
        self, phase: Phase, *, output: Any = None, error: RunError | None = None, message: str | None = None,
        final: bool = False, completed: NodeExecution | None = None, began: datetime | None = None,
        settle: bool = True,
    ) -> RunSnapshot:  # fmt: skip
        """Build the next snapshot, persist the context and publish the snapshot (one local activity each).

        With `settle` (before a side effect, a wait, or the end) it returns once this and every earlier
        persist completed. Without it (after a pure node), the interpreter goes on to the next node at once:
        the update is held back and goes out when the interpreter pauses, unless a newer one replaces it first
        (the next node is computed deterministically from the same state, so nothing outside the workflow
        happens before the newest context is persisted); every MAX_NODES_HELD pure nodes one goes out and the
        run waits for it. Writes carry their sequence (HBase and the operator keep the newest).
        """
        self.sequence += 1
        self.finished = self.finished or final
        if final and output is not None:
            self.context[OUTPUT_KEY] = output
        waiting = ([self.waiting] if self.waiting else []) + self.cursors.waiting_list()
        self.last = snapshot = RunSnapshot(
            sequence=self.sequence, phase=phase, current_node=self.cursors.summary(self.current),
            nodes_completed=self.nodes_completed, nodes=self.history,
            waiting_for=(self.waiting if phase == "Waiting" else None) or next(iter(self.cursors.waiting_list()), None),
            active=self.cursors.active_nodes(), waiting=waiting[:MAX_STATUS_CURSORS], maps=self.cursors.map_progress(),
            compensations=self.cursors.compensation_list(),
            output=_bounded(output, self.start), error=error, message=message or _default_message(phase, self.current),
            started_at=self.started_at, finished_at=workflow.now() if final else None,
            resumes_accepted=self.accepted,
        )  # fmt: skip
        if completed is not None:
            seconds = (workflow.now() - began).total_seconds() if began else 0.0
            self.unreported = [*self.unreported, CompletedNode(execution=completed, seconds=seconds)]
        update = ProgressUpdate(workflow_id=workflow.info().workflow_id, sequence=self.sequence,
                                context=dict(self.context), snapshot=self.last, completed=self.unreported)  # fmt: skip
        if not settle and workflow.patched(PURE_NODES_PERSISTED_TOGETHER):
            if len(self.unreported) < MAX_NODES_HELD:
                self.held = update
                self.sending = self.sending or asyncio.create_task(self._send_when_paused())
                return snapshot
            settle = True  # a long run of pure nodes: its activation ends here
        self.held = None  # this update covers it
        self._start_persist(update)
        if settle or len(self.persisting) >= MAX_PERSISTS_IN_FLIGHT:
            await self._settle()
        return snapshot


def _default_message(phase: str, node: str | None) -> str:
    return {"Running": f"Running {node}", "Succeeded": "Succeeded", "Failed": "Failed"}.get(phase, phase)


def _bounded(output: Any, start: RunStart) -> Any:
    """The output as the status carries it: a reference to HBase when it is too large."""
    if output is None:
        return None
    size = len(json.dumps(output, separators=(",", ":")))
    if size <= MAX_STATUS_OUTPUT_BYTES:
        return output
    return {"$ref": f"WorkflowContextHB/{workflow.info().workflow_id}#{OUTPUT_KEY}", "bytes": size}
