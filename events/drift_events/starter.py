"""What one event does: filtered out, a run started (and recorded, with `runs.record: All`), a duplicate of
an earlier one, or failed.

The run starts the way the operator starts a WorkflowRun (drift.run_start: the Workflow's latest Ready
version, the input checked, `DriftRun` under a fixed workflow id with duplicate rejection). Conditions that
pass (Temporal, HBase or Redis unreachable; the Workflow not Ready) raise `TryLater`: Kafka retries the
event before committing its offset, the receiver answers 503 so the sender retries. With `runs.record: All`
a duplicate is recorded too: drift-events may have crashed after starting the run and before recording it,
and the event comes again because its offset was not committed or its sender had no answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from drift import run_start
from drift.cache.definition_cache import DefinitionCache
from drift.errors import BackendUnavailable
from drift.expressions import ExpressionError
from drift.run_contract import RunStart
from drift.trigger_events import decide, trigger_run_name, trigger_workflow_id

from .outcomes import Outcome
from .run_records import RunRecorder
from .served import Served


class TryLater(Exception):
    """The event cannot be handled now; handling it again later may succeed."""


class Starter:
    """Starts the runs of events."""

    def __init__(self, cache: DefinitionCache, temporal: Client, task_queue: str, recorder: RunRecorder) -> None:
        self._cache = cache
        self._temporal = temporal
        self._task_queue = task_queue
        self._recorder = recorder

    async def handle(self, trigger: Served, event: Mapping[str, Any]) -> Outcome:
        """Filter, map and start; TryLater while a backend or the Workflow is not there."""
        try:
            decision = decide(trigger.compiled, event)
        except ExpressionError as exc:
            return Outcome("failed", str(exc))
        if decision.input is None:
            return Outcome("filtered")
        ref = trigger.spec.workflow_ref
        try:
            pinned = await run_start.pin(self._cache, trigger.namespace, ref, decision.input)
        except BackendUnavailable as exc:
            raise TryLater(str(exc)) from None
        if isinstance(pinned, run_start.Blocked):
            if pinned.reason == "WorkflowNotFound":
                raise TryLater(pinned.detail)
            return Outcome("failed", pinned.detail)
        name = trigger_run_name(trigger.name, decision.event_id)
        workflow_id = trigger_workflow_id(trigger.namespace, trigger.name, decision.event_id)
        start = RunStart(
            namespace=trigger.namespace,
            run_name=name,
            run_uid=trigger.uid,
            workflow_name=ref.name,
            workflow_version=pinned.version,
            input=decision.input,
        )
        try:
            run_id = await run_start.start(self._temporal, self._task_queue, workflow_id, start, pinned.timeout_seconds)
        except RPCError as exc:
            raise TryLater(f"Temporal: {exc.message}") from None
        if run_id is None:
            if trigger.spec.runs.record == "All":  # a crash may have come between the start and its record
                await self._record_again(trigger, workflow_id)
            return Outcome("duplicate", run=name, workflow_id=workflow_id)
        if trigger.spec.runs.record == "All":
            await self._recorder.record(trigger, workflow_id, start, datetime.now(UTC))
        return Outcome("started", run=name, workflow_id=workflow_id)

    async def _record_again(self, trigger: Served, workflow_id: str) -> None:
        """Record the execution an event started before (a WorkflowRun that exists already is left alone)."""
        try:
            await self._recorder.record_execution(trigger, workflow_id)
        except RPCError as exc:
            raise TryLater(f"Temporal: {exc.message}") from None
