"""Node types: the per-type blocks shared by NodeDefinition specs and inline workflow nodes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .base import ApiModel
from .common import DefinitionRef, Expression, NodeName, OutputMapping, ResourceName, RetryPolicy, Template

DEFINABLE_TYPES = ("http", "emit", "script", "processor", "instruction", "wait", "success", "failure")
"""Types a NodeDefinition may have."""
SCOPE_TYPES = ("parallel", "map", "workflow")
"""Inline types that run other nodes: parallel branches, map items, a sub-workflow."""
NODE_TYPES = (*DEFINABLE_TYPES, "branch", *SCOPE_TYPES)
"""Types an inline workflow node may have: branch and the scope types only make sense inside a graph."""
TERMINAL_TYPES = ("success", "failure")
BLOCK_REQUIRED = ("http", "emit", "script", "processor", "instruction", "wait", "failure")
"""Types whose block must be present (success's block is optional)."""

DefinableType = Literal["http", "emit", "script", "processor", "instruction", "wait", "success", "failure"]
NodeType = Literal[
    "http",
    "emit",
    "script",
    "processor",
    "instruction",
    "wait",
    "success",
    "failure",
    "branch",
    "parallel",
    "map",
    "workflow",
]


class SecretKeyRef(ApiModel):
    """A key of a Secret in the run's namespace."""

    name: ResourceName
    """Secret name."""
    key: str = Field(min_length=1, max_length=253)
    """Key inside the Secret's data."""


class HeaderFromSecret(ApiModel):
    """An HTTP header whose value is read from a Secret when the node runs: never stored or logged."""

    name: str = Field(min_length=1, max_length=256, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    """Header name."""
    secret_key_ref: SecretKeyRef
    """Where the value comes from."""


class HttpBlock(ApiModel):
    """Calls an HTTP endpoint; the result is `{status, headers, body}`."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    """HTTP method (default GET)."""
    url: Template = Field(min_length=1)
    """URL; may hold {{ }} templates."""
    headers: dict[str, Template] = Field(default_factory=dict, max_length=64)
    """Literal headers; values may hold {{ }} templates."""
    headers_from: list[HeaderFromSecret] = Field(default_factory=list, max_length=16)
    """Headers read from Secrets at execution time."""
    query: dict[str, Template] = Field(default_factory=dict, max_length=64)
    """Query parameters; values may hold {{ }} templates."""
    body: Any = None
    """JSON request body; string leaves may hold {{ }} templates."""
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)
    """Timeout of one request, in seconds (default 30)."""


class KafkaSink(ApiModel):
    """A Kafka topic of the cluster the worker is configured with (`DRIFT_KAFKA_BOOTSTRAP`)."""

    topic: str = Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    """Topic name."""
    key: Template | None = None
    """Message key (which partition, and the order among events with the same key); may hold {{ }} templates."""


class HttpSink(ApiModel):
    """An HTTP endpoint that takes CloudEvents in structured mode (`application/cloudevents+json`)."""

    url: Template = Field(min_length=1)
    """URL; may hold {{ }} templates."""
    headers: dict[str, Template] = Field(default_factory=dict, max_length=64)
    """Literal headers; values may hold {{ }} templates."""
    headers_from: list[HeaderFromSecret] = Field(default_factory=list, max_length=16)
    """Headers read from Secrets at execution time (a token, say)."""


class EmitSink(ApiModel):
    """Where an emitted event goes: exactly one of kafka and http."""

    kafka: KafkaSink | None = None
    """A Kafka topic (binary mode: `ce_*` headers, the data as the value)."""
    http: HttpSink | None = None
    """An HTTP endpoint (structured mode)."""

    @model_validator(mode="after")
    def _one_of(self) -> EmitSink:
        if (self.kafka is None) == (self.http is None):
            raise ValueError("give exactly one of kafka and http")
        return self


class EmitBlock(ApiModel):
    """Publishes a CloudEvent, at least once, with an id fixed before the first attempt."""

    sink: EmitSink
    """Where it goes."""
    type: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:/-]+$")
    """The CloudEvent `type` (for example `payment.requested`)."""
    subject: Template | None = None
    """The CloudEvent `subject`; may hold {{ }} templates."""
    data: Any = None
    """The event's data: a JSON object whose string leaves may hold {{ }} templates."""


class ScriptBlock(ApiModel):
    """Computes a value with a side-effect-free expression (replaces the predecessor's Groovy node)."""

    language: Literal["cel"] = "cel"
    """Expression language: cel (JSONata is not supported yet)."""
    expression: Expression
    """The expression; its value is the node's result."""


class ProcessorBlock(ApiModel):
    """Writes several context keys at once."""

    assignments: dict[NodeName, Expression] = Field(alias="set", min_length=1, max_length=64)
    """Context key -> CEL expression; all are evaluated against the context before the node."""


class InstructionBlock(ApiModel):
    """Waits for a human: a `spec.resume` entry of the WorkflowRun answers it."""

    message: Template = Field(min_length=1)
    """What to ask; may hold {{ }} templates. Shown in status.waitingFor."""
    options: list[str] = Field(default_factory=list, max_length=32)
    """If set, the resume input must carry `choice` equal to one of these."""
    input_schema: dict[str, Any] | None = None
    """JSON Schema the resume input must satisfy."""
    timeout_seconds: int | None = Field(default=None, ge=1, le=31_536_000)
    """Give up waiting after this many seconds."""
    on_timeout: NodeName | None = None
    """Node to go to on timeout; without it a timeout fails the node."""


class WaitBlock(ApiModel):
    """A durable timer: waits a number of seconds or until a time."""

    seconds: int | None = Field(default=None, ge=0, le=31_536_000)
    """Seconds to wait."""
    until: Expression | None = None
    """CEL expression giving an RFC 3339 time to wait until."""

    @model_validator(mode="after")
    def _one_of(self) -> WaitBlock:
        if (self.seconds is None) == (self.until is None):
            raise ValueError("give exactly one of seconds and until")
        return self


class SuccessBlock(ApiModel):
    """Ends the run successfully."""

    message: Template | None = None
    """Final message; may hold {{ }} templates."""
    output: Expression | None = None
    """CEL expression whose value becomes the run's output."""


class FailureBlock(ApiModel):
    """Ends the run as Failed with an error code; inside failure handling `error` is in scope."""

    code: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    """Machine-readable error code (e.g. REFUND_FAILED)."""
    message: Template | None = None
    """Error message; may hold {{ }} templates (e.g. {{ error.message }})."""


class Choice(ApiModel):
    """One branch: the first choice whose condition holds decides the next node."""

    when: Expression
    """CEL condition over input and context."""
    next: NodeName
    """Node to go to when the condition holds."""


class ParallelBranch(ApiModel):
    """One branch of a parallel node: the nodes reachable from `startAt` (its scope)."""

    name: NodeName
    """Branch name: the key of its output in the node's result, and its segment in status paths."""
    start_at: NodeName
    """The branch's first node."""


class ParallelBlock(ApiModel):
    """Runs branches concurrently and joins them."""

    branches: list[ParallelBranch] = Field(min_length=2, max_length=128)
    """The branches (2 to 128, names unique)."""
    join: Literal["all", "any"] = "all"
    """all: every branch must succeed (result: each branch's output by name); any: the first success wins."""
    on_branch_failure: Literal["cancel", "wait"] = "cancel"
    """join all: cancel (default) cancels the other branches at the first failure; wait lets them finish."""


class MapBlock(ApiModel):
    """Runs the nodes reachable from `startAt` once per item of a list, `item` and `index` in scope."""

    items: Expression
    """CEL expression giving the list."""
    start_at: NodeName
    """First node of the item scope."""
    max_concurrency: int = Field(default=10, ge=1, le=1000)
    """Items in flight at once (default 10)."""
    tolerated_failure_count: int | None = Field(default=None, ge=0)
    """Item failures tolerated before the node fails (default: none)."""
    tolerated_failure_percentage: float | None = Field(default=None, ge=0, le=100)
    """Item failures tolerated, as a percentage of the items."""

    @model_validator(mode="after")
    def _one_tolerance(self) -> MapBlock:
        if self.tolerated_failure_count is not None and self.tolerated_failure_percentage is not None:
            raise ValueError("give at most one of toleratedFailureCount and toleratedFailurePercentage")
        return self


class SubWorkflowBlock(ApiModel):
    """Runs another Workflow as a child run, pinned when this Workflow's version is made."""

    ref: DefinitionRef
    """The Workflow to run (`version` pins one; default: its version current when this version was made)."""
    input: dict[str, Any] = Field(default_factory=dict)
    """The child's input; string leaves may hold {{ }} templates."""


class ScopeBlocks(ApiModel):
    """The blocks of the inline types that run other nodes (parallel, map, workflow)."""

    parallel: ParallelBlock | None = None
    """The parallel block (type parallel)."""
    map: MapBlock | None = None
    """The map block (type map)."""
    workflow: SubWorkflowBlock | None = None
    """The workflow block (type workflow)."""

    def check_scope_blocks(self, node_type: str | None) -> None:
        """Exactly the scope block of `node_type`, if it is a scope type."""
        for name in SCOPE_TYPES:
            given = getattr(self, name) is not None
            if given and node_type != name:
                raise ValueError(f"{name} block given but type is {node_type or 'unset (ref)'}")
            if node_type == name and not given:
                raise ValueError(f"type {name} needs a {name} block")


class TypedBlocks(ApiModel):
    """A node's type and the one block of that type (shared by NodeDefinition and inline nodes)."""

    http: HttpBlock | None = None
    """The http block (type http)."""
    emit: EmitBlock | None = None
    """The emit block (type emit)."""
    script: ScriptBlock | None = None
    """The script block (type script)."""
    processor: ProcessorBlock | None = None
    """The processor block (type processor)."""
    instruction: InstructionBlock | None = None
    """The instruction block (type instruction)."""
    wait: WaitBlock | None = None
    """The wait block (type wait)."""
    success: SuccessBlock | None = None
    """The success block (type success; optional)."""
    failure: FailureBlock | None = None
    """The failure block (type failure)."""
    output: OutputMapping | None = None
    """What the node stores in the run context."""
    retry: RetryPolicy | None = None
    """Retry policy of side-effecting nodes (default: 3 attempts, 1 s, x2, 60 s max)."""
    timeout_seconds: int | None = Field(default=None, ge=1, le=86_400)
    """Start-to-close timeout of one attempt, in seconds (default 300)."""

    def block(self, node_type: str) -> ApiModel | None:
        """The block of `node_type`, if given."""
        return getattr(self, node_type, None)

    def blocks_given(self) -> list[str]:
        """Names of the type blocks present."""
        return [name for name in DEFINABLE_TYPES if getattr(self, name) is not None]

    def check_blocks(self, node_type: str | None) -> None:
        """Exactly the block of `node_type` (none for a ref or branch; success's may be omitted)."""
        for name in self.blocks_given():
            if name != node_type:
                raise ValueError(f"{name} block given but type is {node_type or 'unset (ref)'}")
        if node_type in BLOCK_REQUIRED and self.block(node_type) is None:
            raise ValueError(f"type {node_type} needs a {node_type} block")


class NodeDefinitionSpec(TypedBlocks):
    """A reusable step: one type and its block."""

    type: DefinableType
    """Node type: http, script, processor, instruction, wait, success or failure."""
    description: str | None = Field(default=None, max_length=4096)
    """What the step does."""

    @model_validator(mode="after")
    def _blocks(self) -> NodeDefinitionSpec:
        self.check_blocks(self.type)
        return self
