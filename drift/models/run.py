"""The WorkflowRun kind: one execution of a workflow version."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .base import ApiModel
from .common import Condition, DefinitionRef, NodeName, Version

Phase = Literal["Pending", "Running", "Waiting", "Succeeded", "Failed", "TimedOut", "Cancelled"]
FINAL_PHASES = ("Succeeded", "Failed", "TimedOut", "Cancelled")
MAX_STATUS_NODES = 50
MAX_RESUME_ENTRIES = 1000


class ResumeEntry(ApiModel):
    """An answer to an instruction node; entries are delivered once each, in order."""

    node: NodeName
    """The instruction node answered."""
    input: dict[str, Any] = Field(default_factory=dict)
    """The answer: with options, it carries `choice`; it must satisfy the node's inputSchema."""


class WorkflowRunSpec(ApiModel):
    """What to run, with which input; resume and cancel steer it while it runs."""

    workflow_ref: DefinitionRef
    """The Workflow to run (`version` pins one; default: the latest Ready version)."""
    input: dict[str, Any] = Field(default_factory=dict)
    """Run input, checked against the workflow's inputSchema; `input` in expressions."""
    resume: list[ResumeEntry] = Field(default_factory=list, max_length=MAX_RESUME_ENTRIES)
    """Answers to instruction nodes, appended by users or tools; append-only."""
    cancel: bool = False
    """True stops the run (phase Cancelled); cannot be undone."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)
    """Delete the run this many seconds after it finished (its context stays); unset: DRIFT_RUN_TTL_SECONDS."""


class ExecutionRef(ApiModel):
    """Where the run executes in Temporal."""

    namespace: str
    """Temporal namespace."""
    workflow_id: str
    """Temporal workflow id, derived from the resource's namespace, name and uid."""
    run_id: str | None = None
    """Temporal run id of the first execution."""


class WaitingFor(ApiModel):
    """The instruction node a run waits on."""

    node: NodeName
    """The instruction node."""
    message: str
    """Its rendered message."""
    options: list[str] = Field(default_factory=list)
    """Allowed choices, if any."""
    since: datetime
    """When the wait began."""


class NodeExecution(ApiModel):
    """One node execution (status keeps the last 50)."""

    name: NodeName
    """Node name."""
    type: str
    """Node type."""
    phase: Literal["Running", "Waiting", "Succeeded", "Failed"]
    """Outcome so far."""
    attempts: int = 1
    """Attempts made."""
    started_at: datetime | None = None
    """When it started."""
    finished_at: datetime | None = None
    """When it ended."""
    message: str | None = None
    """Error or note."""


class RunError(ApiModel):
    """Why a run failed: the node, a code and a message."""

    node: str | None = None
    """The failing node."""
    code: str
    """Machine-readable code (a failure node's code, HTTP_404, EXPRESSION_ERROR, ...)."""
    message: str = ""
    """Human-readable detail."""


class WorkflowRunStatus(ApiModel):
    """Observed state of the run, kept small: the full context lives in HBase."""

    phase: Phase | None = None
    """Pending, Running, Waiting, Succeeded, Failed, TimedOut or Cancelled."""
    workflow_version: Version | None = None
    """The pinned workflow version."""
    execution: ExecutionRef | None = None
    """The Temporal execution."""
    current_node: str | None = None
    """The node running or waiting now."""
    nodes_completed: int = 0
    """Nodes finished so far."""
    waiting_for: WaitingFor | None = None
    """The instruction the run waits on."""
    nodes: list[NodeExecution] = Field(default_factory=list, max_length=MAX_STATUS_NODES)
    """The last 50 node executions."""
    output: Any = None
    """The success node's output (bounded; a large one is replaced by a reference to HBase)."""
    error: RunError | None = None
    """Why the run failed."""
    message: str | None = None
    """One-line summary of the state."""
    resumes_delivered: int = 0
    """How many spec.resume entries were handled (accepted or refused)."""
    started_at: datetime | None = None
    """When execution started."""
    finished_at: datetime | None = None
    """When it reached a final phase."""
    duration: str | None = None
    """Run time once finished (e.g. 1m20s)."""
    observed_generation: int | None = None
    """The metadata.generation last reconciled."""
    conditions: list[Condition] = Field(default_factory=list, max_length=8)
    """Succeeded, Ready, Reconciling and Stalled, per the phase."""
