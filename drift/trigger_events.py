"""A WorkflowTrigger's expressions over `event`: compiled when the trigger is applied, applied per event.

`compile_trigger` checks the filter, the input templates and the event-id template (the operator turns a
problem into `Stalled`, reason `InvalidExpression`); `decide` applies them to one event: filtered out, or
the event id and the run's input. The trigger's runs get the Temporal workflow id
`{namespace}/trigger/{name}/{sha256(event id)[:32]}`: a redelivered event maps to the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .expressions import (
    Expression,
    ExpressionError,
    Template,
    compile_expression,
    compile_json_templates,
    compile_template,
    render_json,
)
from .models.trigger import WorkflowTriggerSpec
from .validation import DefinitionInvalid, Problem

TRIGGER_LABEL = "drift.dev/trigger"
"""On every recorded run: the trigger's name (select them with `-l drift.dev/trigger=NAME`)."""
STARTED_AT = "drift.dev/started-at"
"""On every recorded run: when its execution started (the history limits keep the newest)."""
EVENT_VARIABLES = frozenset({"event"})
"""The one variable of a trigger's expressions: the event as {id, type, source, subject, time, data, ...}."""
ID_DIGEST_CHARS = 32


@dataclass(frozen=True)
class CompiledTrigger:
    """A trigger's filter and templates, compiled."""

    filter: Expression | None
    input: Mapping[str, Any]
    event_id: Template


def compile_trigger(spec: WorkflowTriggerSpec) -> CompiledTrigger:
    """Compile every expression of the spec; DefinitionInvalid (InvalidExpression) naming each bad field."""
    problems: list[Problem] = []

    def check(field: str, compile_: Any, text: Any) -> Any:
        try:
            return compile_(text, variables=EVENT_VARIABLES)
        except ExpressionError as exc:
            problems.append(Problem("InvalidExpression", f"spec.{field}: {exc}"))
            return None

    compiled_filter = check("filter", compile_expression, spec.filter) if spec.filter else None
    for key, value in spec.input.items():
        check(f"input.{key}", compile_json_templates, value)
    event_id = check("eventId", compile_template, spec.event_id)
    if problems:
        raise DefinitionInvalid(problems)
    return CompiledTrigger(compiled_filter, spec.input, event_id)


@dataclass(frozen=True)
class Decision:
    """What one event does: `input` None when the filter turned it away."""

    event_id: str
    input: dict[str, Any] | None


def decide(trigger: CompiledTrigger, event: Mapping[str, Any]) -> Decision:
    """Apply the filter and the templates to `event`; ExpressionError when one fails on it."""
    variables = {"event": dict(event)}
    event_id = trigger.event_id.render(variables)
    if not isinstance(event_id, str) or not event_id:
        raise ExpressionError(f"eventId: must give a non-empty string, gave {event_id!r}")
    if trigger.filter is not None:
        passed = trigger.filter.evaluate(variables)
        if not isinstance(passed, bool):
            raise ExpressionError(f"filter: must give true or false, gave {passed!r}")
        if not passed:
            return Decision(event_id, None)
    rendered = render_json(dict(trigger.input), variables, names=EVENT_VARIABLES)
    return Decision(event_id, rendered)


def run_key(event_id: str) -> str:
    """The first 32 hex digits of the SHA-256 of the event id: one per event, whatever its length."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:ID_DIGEST_CHARS]


def trigger_workflow_id(namespace: str, name: str, event_id: str) -> str:
    """The Temporal workflow id of the run an event starts."""
    return trigger_workflow_prefix(namespace, name) + run_key(event_id)


def trigger_workflow_prefix(namespace: str, name: str) -> str:
    """What the workflow ids of a trigger's runs start with (for Temporal's visibility queries)."""
    return f"{namespace}/trigger/{name}/"


def trigger_run_name(name: str, event_id: str) -> str:
    """The run's name (a recorded run's WorkflowRun name): the trigger's name and 12 digits of the key."""
    return _run_name(name, run_key(event_id))


def trigger_run_name_of(workflow_id: str) -> str:
    """The run's name, from its workflow id (`trigger_workflow_id`)."""
    _, _, name, key = workflow_id.split("/")
    return _run_name(name, key)


def _run_name(name: str, key: str) -> str:
    return f"{name[:240]}-{key[:12]}"
