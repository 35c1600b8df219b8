"""Pieces shared by several kinds: references, conditions, retry policy, output mapping, limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .base import ApiModel

MAX_EXPRESSION_LENGTH = 4096
"""Longest expression or template string accepted (keeps admission-time CEL cost estimates bounded)."""

NodeName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"),
]
"""A node's name inside a workflow: also its default key in the run context."""
ResourceName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
"""A Kubernetes object name (DNS subdomain)."""
Version = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{12}$")]
"""A definition version: the first 12 hex digits of the SHA-256 of the canonical spec."""
Expression = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EXPRESSION_LENGTH)]
"""A CEL expression."""
Template = Annotated[str, StringConstraints(max_length=MAX_EXPRESSION_LENGTH)]
"""Text that may hold `{{ expression }}` templates."""


class DefinitionRef(ApiModel):
    """A reference to a definition in the same namespace, optionally pinned to one version."""

    name: ResourceName
    """Name of the referenced object in the same namespace."""
    version: Version | None = None
    """Pin this version (a content hash from the object's status.version); default: the latest Ready version."""


class RetryPolicy(ApiModel):
    """How a failed attempt is retried: network errors, timeouts, HTTP 5xx and 429 only."""

    max_attempts: int = Field(default=3, ge=1, le=100)
    """Attempts in all, the first included (default 3)."""
    initial_interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    """Wait before the first retry, in seconds (default 1)."""
    backoff_coefficient: float = Field(default=2.0, ge=1, le=10)
    """Each wait is the previous one times this (default 2.0)."""
    maximum_interval_seconds: float = Field(default=60.0, gt=0, le=86400)
    """Upper bound of a wait between attempts, in seconds (default 60)."""


class OutputMapping(ApiModel):
    """What a node stores in the run context (the predecessor's "transformer")."""

    key: NodeName | None = None
    """Context key to store under; default: the node's name in the workflow."""
    expression: Expression | None = None
    """CEL over `result` (and `input`, `context`) computing the stored value; default: the whole result."""


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A metav1.Condition: one aspect of the object's state, with a machine-readable reason."""

    type: str = Field(max_length=316)
    """Condition type: Ready, Reconciling, Stalled or (WorkflowRun) Succeeded."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str = Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    """CamelCase reason, stable API (e.g. Synced, UnknownNodeRef, HBaseUnavailable)."""
    message: str = Field(default="", max_length=32768)
    """Human-readable detail."""
    last_transition_time: datetime
    """When the status last changed."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the condition was computed from."""


class DefinitionStatus(ApiModel):
    """Observed state of a NodeDefinition or Workflow."""

    observed_generation: int | None = None
    """The metadata.generation last reconciled."""
    version: Version | None = None
    """Content hash of the stored spec: the HBase row suffix, immutable."""
    conditions: list[Condition] = Field(default_factory=list, max_length=8)
    """Ready (True once stored in HBase and the cache invalidated), Reconciling, Stalled."""
