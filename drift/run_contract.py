"""The contract between the operator and the worker for one WorkflowRun's Temporal execution.

- The operator starts workflow type `DriftRun` on `DRIFT_TASK_QUEUE` with a `RunStart` (the workflow
  version already pinned: it pins every node-definition version too), id `workflow_id(...)`, and
  `execution_timeout` = the workflow's `timeoutSeconds` (Temporal status TIMED_OUT -> phase TimedOut).
- The worker publishes a `RunEvent` on the Redis channel `run_events_channel(prefix)` after every node
  (with the context persisted to HBase first) and answers the `snapshot` query with the same snapshot;
  snapshots carry an increasing `sequence`, so an older one never overwrites a newer one.
- The operator delivers `spec.resume[i]` as the update `resume` with update id `resume-{i}` (Temporal
  de-duplicates by id); the update's validator refuses a bad entry at once (WorkflowUpdateFailedError).
- `spec.cancel` -> the operator cancels the workflow (it ends CANCELED, phase Cancelled); deleting the
  resource -> the operator terminates it.
- The workflow's result is the final `RunSnapshot`.
- A WorkflowRun annotated `drift.dev/execution` (a trigger's recorded run, created after drift-events
  started its execution) names its execution: the operator adopts it instead of starting one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .models.run import (
    ActiveNode,
    CompensationStatus,
    MapProgress,
    NodeExecution,
    Phase,
    RunError,
    WaitingFor,
)

WORKFLOW_TYPE = "DriftRun"
QUERY_SNAPSHOT = "snapshot"
UPDATE_RESUME = "resume"
SIGNAL_EVENT = "drift.event"
"""Signal to a run waiting on an event node: an event with the key it waits for (EventDelivery)."""
MAX_STATUS_OUTPUT_BYTES = 16 * 1024
"""A larger output is replaced in the status (and snapshots) by a reference to the context in HBase."""


EXECUTION_ANNOTATION = "drift.dev/execution"
"""On a WorkflowRun whose execution was started before it was created: that execution's workflow id."""


def workflow_id(namespace: str, name: str, uid: str) -> str:
    """The Temporal workflow id of a WorkflowRun: stable across operator restarts and retries."""
    return f"{namespace}/{name}/{uid}"


def run_workflow_id(metadata: Mapping[str, Any]) -> str:
    """The workflow id of the WorkflowRun with this metadata: the adopted execution's, else its own."""
    adopted = (metadata.get("annotations") or {}).get(EXECUTION_ANNOTATION)
    return adopted or workflow_id(metadata["namespace"], metadata["name"], metadata["uid"])


def resume_update_id(index: int) -> str:
    """Update id of `spec.resume[index]`: Temporal runs an update id once per workflow run."""
    return f"resume-{index}"


def run_events_channel(table_prefix: str) -> str:
    """Redis channel of run snapshots (same prefix as the installation's tables and cache keys)."""
    return f"{table_prefix}runs"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class RunStart(_Model):
    """Input of a `DriftRun` workflow."""

    namespace: str
    run_name: str
    run_uid: str
    workflow_name: str
    workflow_version: str
    input: dict[str, Any] = Field(default_factory=dict)
    carried: dict[str, Any] | None = None
    """Internal to the worker: the state a run carries across continue-as-new (None when the operator starts it)."""


class ResumeRequest(_Model):
    """An answer to an instruction node (`spec.resume[index]`)."""

    index: int
    node: str
    input: dict[str, Any] = Field(default_factory=dict)
    path: str | None = None
    """The instance inside a parallel branch or map item (`spec.resume[index].path`)."""


class RunSnapshot(_Model):
    """What the operator shows on the WorkflowRun status (field names as in WorkflowRunStatus)."""

    sequence: int = 0
    """Increases with every change; the operator ignores a snapshot older than the one it applied."""
    phase: Phase = "Running"
    current_node: str | None = None
    nodes_completed: int = 0
    waiting_for: WaitingFor | None = None
    active: list[ActiveNode] = Field(default_factory=list)
    waiting: list[WaitingFor] = Field(default_factory=list)
    maps: list[MapProgress] = Field(default_factory=list)
    compensations: list[CompensationStatus] = Field(default_factory=list)
    nodes: list[NodeExecution] = Field(default_factory=list)
    """The last 50 node executions."""
    output: Any = None
    error: RunError | None = None
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    resumes_accepted: list[int] = Field(default_factory=list)
    """Indexes of the resume entries accepted so far (the last 50)."""


class RunEvent(_Model):
    """A snapshot published on the run-events channel."""

    workflow_id: str
    snapshot: RunSnapshot
    end_recorded: bool = False
    """The snapshot's end (`finished_at`) is recorded beside the run's context in HBase already (by the worker,
    with the last context), so the operator need not record it. Absent from workers before 2026-11-27."""
