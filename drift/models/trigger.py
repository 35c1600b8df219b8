"""The WorkflowTrigger kind: events from a Kafka topic or CloudEvents over HTTP start runs of one Workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from .base import ApiModel
from .common import Condition, DefinitionRef, Expression, ResourceName, Template

MAX_LAST_RUNS = 20
"""Run names the status lists, newest first."""
DEFAULT_EVENT_ID = "{{ event.id }}"

RecordPolicy = Literal["None", "Failed", "All"]
KafkaName = Annotated[str, StringConstraints(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]
"""A Kafka topic or consumer group name."""


class SecretKeyRef(ApiModel):
    """A key of a Secret in the trigger's namespace."""

    name: ResourceName
    """The Secret."""
    key: str = Field(min_length=1, max_length=253)
    """The key in its data."""


class KafkaSource(ApiModel):
    """Consume a Kafka topic (CloudEvents in binary or structured mode, or plain JSON records)."""

    topic: KafkaName
    """The topic."""
    consumer_group: KafkaName
    """Consumer group of every drift-events replica for this trigger: Kafka spreads the partitions over them
    and keeps the committed offsets."""
    initial_offset: Literal["Latest", "Earliest"] = "Latest"
    """Where a consumer group without committed offsets starts: Latest (default: events from now on) or
    Earliest (every record the topic still holds)."""


class CloudEventsAuth(ApiModel):
    """How a sender proves itself: a bearer token or an HMAC-SHA256 of the body, from a Secret."""

    token_secret_ref: SecretKeyRef | None = None
    """The token senders put in `Authorization: Bearer <token>`."""
    hmac_secret_ref: SecretKeyRef | None = None
    """The key of the HMAC-SHA256 of the body senders put in `X-Drift-Signature: sha256=<hex>`."""

    @model_validator(mode="after")
    def _one(self) -> CloudEventsAuth:
        if (self.token_secret_ref is None) == (self.hmac_secret_ref is None):
            raise ValueError("give exactly one of tokenSecretRef and hmacSecretRef")
        return self


class CloudEventsSource(ApiModel):
    """Receive CloudEvents over HTTP at `POST /triggers/{namespace}/{name}` of the drift-events Service."""

    auth: CloudEventsAuth
    """Senders must authenticate; anything else is answered 401 and starts nothing."""


class TriggerSource(ApiModel):
    """Where events come from: exactly one of kafka and cloudEvents."""

    kafka: KafkaSource | None = None
    """A Kafka topic."""
    cloud_events: CloudEventsSource | None = None
    """CloudEvents over HTTP."""

    @model_validator(mode="after")
    def _one(self) -> TriggerSource:
        if (self.kafka is None) == (self.cloud_events is None):
            raise ValueError("give exactly one of kafka and cloudEvents")
        return self


class RunsPolicy(ApiModel):
    """Which of the trigger's runs become WorkflowRun objects (every run is a Temporal execution)."""

    record: RecordPolicy = "Failed"
    """None: no run is recorded; Failed (default): the runs that fail, timed out or were cancelled; All:
    every run (low-rate triggers only: etcd holds every object)."""
    successful_runs_history_limit: int = Field(default=0, ge=0, le=1000)
    """Recorded succeeded runs kept; older ones are deleted (default 0)."""
    failed_runs_history_limit: int = Field(default=100, ge=0, le=1000)
    """Recorded failed, timed-out or cancelled runs kept; older ones are deleted (default 100)."""


class WorkflowTriggerSpec(ApiModel):
    """Which events start runs of which Workflow, with which input."""

    workflow_ref: DefinitionRef
    """The Workflow each event runs (`version` pins one; default: the latest Ready version when it arrives)."""
    source: TriggerSource
    """A Kafka topic or CloudEvents over HTTP."""
    filter: Expression | None = None
    """CEL over `event` ({id, type, source, subject, time, data, ...}); an event for which it is false starts
    nothing. Default: every event."""
    input: dict[str, Any] = Field(default_factory=dict)
    """Run input; every string in it may hold `{{ }}` templates over `event`. Default: {}."""
    event_id: Template = DEFAULT_EVENT_ID
    """Template over `event` giving the id runs are de-duplicated by (default: the CloudEvent id; a Kafka record
    without one: `topic/partition/offset`)."""
    runs: RunsPolicy = Field(default_factory=RunsPolicy)
    """Which runs are recorded as WorkflowRuns, and how many are kept."""


class WorkflowTriggerStatus(ApiModel):
    """Whether the trigger is served, and what its events did."""

    observed_generation: int | None = None
    """The metadata.generation last reconciled."""
    received: int = 0
    """Events received (Kafka records and accepted HTTP requests)."""
    filtered: int = 0
    """Events the filter turned away."""
    started: int = 0
    """Runs started."""
    duplicates: int = 0
    """Events whose run had been started before (a redelivery): nothing started."""
    failed: int = 0
    """Events that could not start a run (a template failed, the input did not fit the Workflow)."""
    unrecorded: int = 0
    """Runs runs.record asked for that were left Temporal-only: past DRIFT_TRIGGER_RECORD_PER_SECOND."""
    last_event_time: datetime | None = None
    """When the newest event arrived."""
    last_runs: list[str] = Field(default_factory=list, max_length=MAX_LAST_RUNS)
    """The names of the newest runs started (at most 20, newest first)."""
    conditions: list[Condition] = Field(default_factory=list, max_length=8)
    """Ready, Reconciling and Stalled (the operator's); for a Kafka trigger also Consuming, which drift-events
    writes from its consumer's check of the topic every 10 s (reasons TopicFound, TopicNotFound,
    KafkaUnreachable, KafkaError, ConsumerFailed; NotServed while the trigger is Stalled)."""
