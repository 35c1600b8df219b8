"""The WorkflowRun kind: one execution of a workflow version."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from .base import ApiModel
from .common import Condition, DefinitionRef, NodeName, Version

Phase = Literal["Pending", "Running", "Waiting", "Succeeded", "Failed", "TimedOut", "Cancelled"]
FINAL_PHASES = ("Succeeded", "Failed", "TimedOut", "Cancelled")
MAX_STATUS_NODES = 50
MAX_RESUME_ENTRIES = 1000
MAX_STATUS_CURSORS = 20
"""Active nodes, waiting instructions, maps and compensations the status lists (each)."""
PATH_SEGMENT = r"[-A-Za-z0-9_.]+(\[[0-9]+\])?"
InstancePath = Annotated[str, StringConstraints(max_length=512, pattern=rf"^{PATH_SEGMENT}(/{PATH_SEGMENT})*$")]
"""Where a node instance runs: `checks/credit` (a parallel branch), `notify[42]` (a map item), nested with `/`."""


class ResumeEntry(ApiModel):
    """An answer to an instruction node; entries are delivered once each, in order."""

    node: NodeName
    """The instruction node answered."""
    path: InstancePath | None = None
    """Which instance, when the node runs inside a parallel branch or a map item (as in status.waiting)."""
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


class AwaitedEvent(ApiModel):
    """The event an event node waits for."""

    type: str
    """Its CloudEvent type."""
    key: str
    """The correlation key it must match: `{type}/{path}={value}`."""


class WaitingFor(ApiModel):
    """An instruction node the run waits on (or an event node: then `event` says which event)."""

    node: NodeName
    """The instruction (or event) node."""
    path: str | None = None
    """The instance, inside a parallel branch or a map item (give it as spec.resume[].path)."""
    message: str
    """Its rendered message."""
    options: list[str] = Field(default_factory=list)
    """Allowed choices, if any."""
    since: datetime
    """When the wait began."""
    event: AwaitedEvent | None = None
    """An event node: the event awaited."""
    timeout_at: datetime | None = None
    """When the wait times out, if it does."""


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


class ActiveNode(ApiModel):
    """A node running now (one of several cursors, in a parallel branch or a map item)."""

    node: NodeName
    """The node."""
    path: str | None = None
    """The instance: `checks/credit`, `notify[42]`, nested with `/`."""
    since: datetime
    """When it started."""


class MapProgress(ApiModel):
    """How far a map node is."""

    node: NodeName
    """The map node."""
    path: str | None = None
    """The instance of the map node, if it runs in a branch or an item itself."""
    total: int
    """Items."""
    succeeded: int = 0
    """Items done."""
    running: int = 0
    """Items in flight."""
    failed: int = 0
    """Items failed (tolerated so far)."""


class CompensationStatus(ApiModel):
    """A compensation that ran (or runs) because the run or a scope failed after a node succeeded."""

    node: NodeName
    """The compensation's first node."""
    undoes: NodeName
    """The node it undoes."""
    path: str | None = None
    """The scope instance the undone node ran in."""
    phase: Literal["Running", "Succeeded", "Failed"]
    """Its outcome so far."""
    message: str | None = None
    """Why it failed."""


class RunError(ApiModel):
    """Why a run failed: the node, a code and a message."""

    node: str | None = None
    """The failing node."""
    path: str | None = None
    """Where inside the node it failed: the branch or map item and the node there (`checks/credit/score`)."""
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
    """The instruction the run waits on (the first of `waiting`)."""
    active: list[ActiveNode] = Field(default_factory=list, max_length=MAX_STATUS_CURSORS)
    """Nodes running now in parallel branches and map items (the newest 20)."""
    waiting: list[WaitingFor] = Field(default_factory=list, max_length=MAX_STATUS_CURSORS)
    """Every instruction waiting for input (the first 20)."""
    maps: list[MapProgress] = Field(default_factory=list, max_length=MAX_STATUS_CURSORS)
    """Progress of the map nodes running now."""
    compensations: list[CompensationStatus] = Field(default_factory=list, max_length=MAX_STATUS_CURSORS)
    """Compensations run after a failure, in the order they ran."""
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
