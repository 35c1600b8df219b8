"""The kinds as Kubernetes resources: names, printer columns and admission rules (CEL)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from .common import DefinitionStatus
from .nodes import BLOCK_REQUIRED, DEFINABLE_TYPES, SCOPE_TYPES, NodeDefinitionSpec
from .run import WorkflowRunSpec, WorkflowRunStatus
from .schedule import CRON_SHAPE, WorkflowScheduleSpec, WorkflowScheduleStatus
from .trigger import WorkflowTriggerSpec, WorkflowTriggerStatus
from .workflow import WorkflowSpec

GROUP = "drift.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "drift"


@dataclass(frozen=True)
class Rule:
    """An `x-kubernetes-validations` rule checked by the API server at admission."""

    rule: str
    message: str
    reason: str | None = None
    """FieldValueInvalid (default), FieldValueForbidden, FieldValueRequired or FieldValueDuplicate."""


@dataclass(frozen=True)
class Column:
    """An `additionalPrinterColumns` entry."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class Kind:
    """Everything the CRD generator needs to know about one kind."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[Column, ...]
    rules: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    """Rules by schema path: `spec`, `spec.nodes[]` (list items), `spec.workflowRef`, ..."""
    list_maps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Lists merged by key (`x-kubernetes-list-type: map`): the API server refuses duplicate keys."""

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _block_rules(has_type: str) -> tuple[Rule, ...]:
    """One rule per type block: present exactly for its type (success's block is optional)."""
    rules = []
    for name in DEFINABLE_TYPES:
        is_type = f"{has_type}self.type == '{name}'"
        if name in BLOCK_REQUIRED:
            rules.append(
                Rule(
                    f"has(self.{name}) == ({is_type})",
                    f"the {name} block is required for type {name} and forbidden for other types",
                )
            )
        else:
            rules.append(Rule(f"!has(self.{name}) || ({is_type})", f"the {name} block is only for type {name}"))
    return tuple(rules)


SCOPE_BLOCK_RULES = tuple(
    Rule(
        f"has(self.{name}) == (has(self.type) && self.type == '{name}')",
        f"the {name} block is required for type {name} and forbidden for other types",
    )
    for name in SCOPE_TYPES
)


def _condition_status(condition_type: str) -> str:
    """The JSONPath of a condition's status, for a printer column."""
    return f'.status.conditions[?(@.type=="{condition_type}")].status'


READY = _condition_status("Ready")
AGE = Column("Age", ".metadata.creationTimestamp", "date", description="Time since creation")

NODE_DEFINITION = Kind(
    kind="NodeDefinition",
    plural="nodedefinitions",
    singular="nodedefinition",
    short_names=("nodedef", "nd"),
    description="A reusable workflow step (http, script, processor, instruction, wait, success, failure). "
    "Every spec version is stored immutably in HBase under status.version.",
    spec=NodeDefinitionSpec,
    status=DefinitionStatus,
    columns=(
        Column("Type", ".spec.type", description="Node type"),
        Column("Version", ".status.version", description="Stored version (content hash)"),
        Column("Ready", READY, description="Stored in HBase and cache invalidated"),
        AGE,
    ),
    rules={"spec": _block_rules("")},
)

WORKFLOW = Kind(
    kind="Workflow",
    plural="workflows",
    singular="workflow",
    short_names=("dwf",),
    description="A versioned graph of nodes run by WorkflowRuns. Every spec version is stored immutably in "
    "HBase; graph errors are reported as Ready=False naming the node.",
    spec=WorkflowSpec,
    status=DefinitionStatus,
    columns=(
        Column("Start", ".spec.startAt", description="First node"),
        Column("Version", ".status.version", description="Stored version (content hash)"),
        Column("Ready", READY, description="Stored in HBase and cache invalidated"),
        AGE,
    ),
    rules={
        "spec": (
            Rule("self.nodes.exists(n, n.name == self.startAt)", "startAt must name a node in nodes"),
            Rule(
                "!has(self.onFailure) || self.nodes.exists(n, n.name == self.onFailure)",
                "onFailure must name a node in nodes",
            ),
        ),
        "spec.nodes[]": (
            Rule("has(self.ref) != has(self.type)", "a node has either ref or an inline type, not both"),
            *_block_rules("has(self.type) && "),
            *SCOPE_BLOCK_RULES,
            Rule(
                "!has(self.type) || self.type != 'branch' || (has(self.choices) && size(self.choices) > 0)",
                "a branch node needs choices",
            ),
            Rule(
                "(!has(self.choices) && !has(self.default)) || (has(self.type) && self.type == 'branch')",
                "choices and default are for branch nodes only",
            ),
            Rule(
                "!has(self.next) || !has(self.type) || !(self.type in ['success', 'failure', 'branch'])",
                "success, failure and branch nodes have no next",
            ),
        ),
    },
    list_maps={"spec.nodes": ("name",)},
)

WORKFLOW_RUN = Kind(
    kind="WorkflowRun",
    plural="workflowruns",
    singular="workflowrun",
    short_names=("wfr",),
    description="One execution of a Workflow on Temporal. Append spec.resume entries to answer instruction "
    "nodes; set spec.cancel to stop it. Status mirrors the execution.",
    spec=WorkflowRunSpec,
    status=WorkflowRunStatus,
    columns=(
        Column("Phase", ".status.phase", description="Pending, Running, Waiting, Succeeded, Failed, ..."),
        Column("Workflow", ".spec.workflowRef.name", description="The workflow run"),
        Column("Version", ".status.workflowVersion", description="Pinned workflow version"),
        Column("Node", ".status.currentNode", description="Node running or waiting now (or N branches, map progress)"),
        AGE,
        Column("Duration", ".status.duration", description="Run time once finished"),
        Column("Message", ".status.message", description="Summary of the state", priority=1),
    ),
    rules={
        "spec.workflowRef": (Rule("self == oldSelf", "workflowRef is immutable"),),
        "spec.resume": (Rule("size(self) >= size(oldSelf)", "resume entries can only be appended"),),
        "spec.cancel": (Rule("self || !oldSelf", "a cancelled run cannot be un-cancelled"),),
    },
)

WORKFLOW_SCHEDULE = Kind(
    kind="WorkflowSchedule",
    plural="workflowschedules",
    singular="workflowschedule",
    short_names=("wfs",),
    description="Starts a WorkflowRun of one Workflow on a cron schedule, kept by a Temporal Schedule (fires "
    "are due while the operator is down). Each run is owned by the schedule; status shows the last and next "
    "fire times and the active runs.",
    spec=WorkflowScheduleSpec,
    status=WorkflowScheduleStatus,
    columns=(
        Column("Schedule", ".spec.schedule", description="Cron expression"),
        Column("TimeZone", ".spec.timeZone", description="Time zone of the schedule"),
        Column("Suspend", ".spec.suspend", "boolean", description="No fires while true"),
        Column("Last", ".status.lastScheduleTime", "date", description="Time since the last fire"),
        Column("Next", ".status.nextScheduleTime", "string", description="The next fire time"),
        Column("Ready", READY, description="The Temporal Schedule is in place"),
        AGE,
    ),
    rules={
        "spec.schedule": (
            Rule(
                f"self.matches('{CRON_SHAPE}')",
                "must be a cron expression of 5 to 7 fields (e.g. '30 2 * * *'), a descriptor such as @daily, "
                "or @every <interval> such as @every 10m",
            ),
        )
    },
)

WORKFLOW_TRIGGER = Kind(
    kind="WorkflowTrigger",
    plural="workflowtriggers",
    singular="workflowtrigger",
    short_names=("wft",),
    description="Starts runs of one Workflow from events: a Kafka topic or CloudEvents over HTTP, filtered by "
    "CEL, mapped to the input by templates, de-duplicated by event id. Runs are Temporal executions; "
    "spec.runs.record says which also become WorkflowRuns. Status counts the events and what they did.",
    spec=WorkflowTriggerSpec,
    status=WorkflowTriggerStatus,
    columns=(
        Column("Workflow", ".spec.workflowRef.name", description="The workflow run"),
        Column("Topic", ".spec.source.kafka.topic", description="Kafka topic (empty: CloudEvents over HTTP)"),
        Column("Received", ".status.received", "integer", description="Events received"),
        Column("Started", ".status.started", "integer", description="Runs started"),
        Column("Last", ".status.lastEventTime", "date", description="Time since the newest event"),
        Column("Ready", READY, description="Filter and templates compile; served by drift-events"),
        Column(
            "Consuming",
            _condition_status("Consuming"),
            description="drift-events reads the Kafka topic (empty: CloudEvents over HTTP)",
        ),
        AGE,
        Column("Filtered", ".status.filtered", "integer", description="Events the filter turned away", priority=1),
        Column("Duplicates", ".status.duplicates", "integer", description="Redelivered events", priority=1),
        Column("Failed", ".status.failed", "integer", description="Events that started no run", priority=1),
    ),
    rules={
        "spec.source": (Rule("has(self.kafka) != has(self.cloudEvents)", "give exactly one of kafka and cloudEvents"),),
        "spec.source.cloudEvents.auth": (
            Rule(
                "has(self.tokenSecretRef) != has(self.hmacSecretRef)",
                "give exactly one of tokenSecretRef and hmacSecretRef",
            ),
        ),
    },
)

KINDS = (NODE_DEFINITION, WORKFLOW, WORKFLOW_RUN, WORKFLOW_SCHEDULE, WORKFLOW_TRIGGER)
