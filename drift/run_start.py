"""Starting a run's `DriftRun` execution, the one way both starters do it: the operator (a WorkflowRun) and
drift-events (a trigger's event).

`pin` resolves the Workflow (its latest Ready version unless the reference pins one: a Stalled or deleted
Workflow has no latest pointer) and checks the input against its inputSchema; `start` starts the execution
under a fixed workflow id with a duplicate-rejecting id reuse policy, so a second start of the same id
(an operator retry, a redelivered event) starts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from .cache.definition_cache import DefinitionCache
from .models.common import DefinitionRef
from .run_contract import WORKFLOW_TYPE, RunStart
from .stored_definition import StoredDefinition
from .validation import DefinitionInvalid, validate_input


@dataclass(frozen=True)
class Blocked:
    """Why a run cannot start now."""

    reason: str
    """WorkflowNotFound (no Ready version; retried) or InvalidInput (the input does not fit; final)."""
    detail: str
    version: str | None = None
    """The version the input was checked against (InvalidInput)."""


@dataclass(frozen=True)
class Pinned:
    """The Workflow version a run executes."""

    stored: StoredDefinition
    timeout_seconds: int | None

    @property
    def version(self) -> str:
        return self.stored.version


async def pin(
    cache: DefinitionCache, namespace: str, ref: DefinitionRef, run_input: dict[str, Any]
) -> Pinned | Blocked:
    """The version to run (raises BackendUnavailable when HBase or Redis fail), or why there is none."""
    stored = await cache.get("workflow", namespace, ref.name, ref.version)
    if stored is None:
        pinned = f" version {ref.version}" if ref.version else ""
        return Blocked("WorkflowNotFound", f'Workflow "{ref.name}"{pinned} not found or not Ready')
    workflow = stored.workflow_spec()
    try:
        validate_input(workflow.input_schema, run_input)
    except DefinitionInvalid as exc:
        return Blocked("InvalidInput", str(exc), stored.version)
    return Pinned(stored, workflow.timeout_seconds)


async def start(
    client: Client, task_queue: str, workflow_id: str, run: RunStart, timeout_seconds: int | None
) -> str | None:
    """Start the execution: its run id, or None when `workflow_id` had one already (nothing started).

    Raises RPCError while Temporal cannot be reached.
    """
    try:
        started = await client.start_workflow(
            WORKFLOW_TYPE,
            run,
            id=workflow_id,
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=timeout_seconds) if timeout_seconds else None,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return None
    return started.first_execution_run_id or started.result_run_id
