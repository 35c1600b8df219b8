"""Recording a trigger's runs as WorkflowRuns, as `spec.runs.record` says (None, Failed or All).

A recorded run is a WorkflowRun named like the run (`{trigger}-{12 digits of the event's key}`), owned by
the trigger, labelled `drift.dev/trigger`, annotated `drift.dev/execution` with the execution's workflow id
(the operator adopts that execution) and pinned to the version the run executes. `All`: created when the
run starts. `Failed`: a run whose final snapshot on the run-events channel is Failed, TimedOut or Cancelled
is recorded when it arrives, and every `interval` the trigger's executions closed since the last look as
Failed, TimedOut, Canceled or Terminated in Temporal (ended without a final snapshot) are listed from its
visibility store and recorded; the run's input is read from its execution's first history event. Whatever
`record` says, a run whose snapshot shows it waiting for a person (an instruction node) is recorded: its
WorkflowRun's `spec.resume` is how the person answers. Creates pass a token bucket
(DRIFT_TRIGGER_RECORD_PER_SECOND): past it a run stays Temporal-only and is counted `unrecorded`; runs that
wait for a person bypass it (people, not the event rate, bound them). A name that exists already is left
alone, so replicas and repeated looks record a run once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from temporalio.client import Client
from temporalio.service import RPCError

from drift.conditions import timestamp
from drift.kube_client import Kube, KubeError
from drift.models.resources import API_VERSION, WORKFLOW_RUN, WORKFLOW_TRIGGER
from drift.run_contract import EXECUTION_ANNOTATION, RunEvent, RunSnapshot, RunStart
from drift.trigger_events import STARTED_AT, TRIGGER_LABEL, trigger_workflow_prefix

from .counters import TriggerCounters
from .served import Served, TriggerList

log = logging.getLogger(__name__)
LOOK_BACK = timedelta(minutes=5)
"""At drift-events' start, failures closed this long ago are still looked for."""
FAILED_STATUSES = '("Failed", "TimedOut", "Canceled", "Terminated")'
FAILED_PHASES = ("Failed", "TimedOut", "Cancelled")


def asks_a_person(snapshot: RunSnapshot) -> bool:
    """The run waits at an instruction node (on its main path, in a branch or a map item), not for an event."""
    waits = [*snapshot.waiting, *([snapshot.waiting_for] if snapshot.waiting_for else [])]
    return snapshot.phase == "Waiting" and any(wait.event is None for wait in waits)


def must_record(record: str, snapshot: RunSnapshot) -> bool:
    """Whether a run-events snapshot makes a trigger's run recorded (`All` records at the start too, but a run
    past the rate then was not)."""
    return asks_a_person(snapshot) or (record == "Failed" and snapshot.phase in FAILED_PHASES)


def recorded_run(trigger: Served, workflow_id: str, start: RunStart, started_at: datetime) -> dict[str, Any]:
    """The WorkflowRun of a trigger's run (pure)."""
    owner = {
        "apiVersion": API_VERSION,
        "kind": WORKFLOW_TRIGGER.kind,
        "name": trigger.name,
        "uid": trigger.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    metadata = {
        "name": start.run_name,
        "namespace": trigger.namespace,
        "labels": {TRIGGER_LABEL: trigger.name},
        "annotations": {EXECUTION_ANNOTATION: workflow_id, STARTED_AT: timestamp(started_at)},
        "ownerReferences": [owner],
    }
    spec = {"workflowRef": {"name": start.workflow_name, "version": start.workflow_version}, "input": start.input}
    return {"apiVersion": API_VERSION, "kind": WORKFLOW_RUN.kind, "metadata": metadata, "spec": spec}


class TokenBucket:
    """`rate` takes per second, bursts of up to `rate`."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._tokens = rate
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class RunRecorder:
    """Creates the WorkflowRuns of recorded runs."""

    def __init__(
        self, kube: Kube, temporal: Client, counters: TriggerCounters, triggers: TriggerList, per_second: float
    ) -> None:
        self._kube = kube
        self._temporal = temporal
        self._counters = counters
        self._triggers = triggers
        self._bucket = TokenBucket(per_second)
        self._since: dict[tuple[str, str], datetime] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def run_event(self, event: RunEvent, _epoch: int) -> None:
        """A run-events message: a trigger's run that waits for a person, or ended in failure while its
        trigger records failures, is recorded."""
        parts = event.workflow_id.split("/")
        if len(parts) != 4 or parts[1] != "trigger":
            return
        trigger = self._triggers.get(parts[0], parts[2])
        if trigger is None or not must_record(trigger.spec.runs.record, event.snapshot):
            return
        person = asks_a_person(event.snapshot)
        task = asyncio.create_task(self._record_logged(trigger, event.workflow_id, person))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record_logged(self, trigger: Served, workflow_id: str, person: bool) -> None:
        try:
            await self.record_execution(trigger, workflow_id, always=person)
        except RPCError as exc:  # the visibility sweep finds it later only if Temporal closed it unsuccessfully
            log.warning("trigger %s/%s: run %s not recorded: %s", *trigger.key, workflow_id, exc.message)

    async def record(
        self, trigger: Served, workflow_id: str, start: RunStart, started_at: datetime, always: bool = False
    ) -> None:
        """Create the run's WorkflowRun unless the rate is reached (then count it unrecorded); `always`
        bypasses the rate."""
        if not always and not self._bucket.take():
            self._counters.unrecorded(trigger.namespace, trigger.name, trigger.uid)
            return
        body = recorded_run(trigger, workflow_id, start, started_at)
        try:
            await self._kube.create(WORKFLOW_RUN.plural, trigger.namespace, body)
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("trigger %s/%s: run %s not recorded: %s", *trigger.key, start.run_name, exc)
            self._counters.unrecorded(trigger.namespace, trigger.name, trigger.uid)

    async def record_execution(
        self, trigger: Served, workflow_id: str, run_id: str | None = None, always: bool = False
    ) -> None:
        """Record an execution of the trigger's, its input read from its first history event."""
        handle = self._temporal.get_workflow_handle(workflow_id, run_id=run_id)
        async for event in handle.fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            (start,) = await self._temporal.data_converter.decode(started.input.payloads, [RunStart])
            await self.record(trigger, workflow_id, start, event.event_time.ToDatetime(tzinfo=UTC), always)
            return

    async def record_failed(self, trigger: Served) -> None:
        """Record the trigger's executions that closed unsuccessfully since the last look (Temporal's close
        status: runs that ended in a failure node complete, and reach `record_execution` by their run event)."""
        since = self._since.get(trigger.key) or datetime.now(UTC) - LOOK_BACK
        prefix = trigger_workflow_prefix(trigger.namespace, trigger.name)
        query = (
            f'WorkflowId STARTS_WITH "{prefix}" AND ExecutionStatus IN {FAILED_STATUSES} '
            f'AND CloseTime > "{since.isoformat()}"'
        )
        newest = since
        async for execution in self._temporal.list_workflows(query):
            await self.record_execution(trigger, execution.id, execution.run_id)
            newest = max(newest, execution.close_time or newest)
        self._since[trigger.key] = newest
