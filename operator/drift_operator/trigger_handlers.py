"""kopf handlers of WorkflowTrigger: compile the filter and templates when the trigger is applied.

A trigger whose spec compiles is `Ready` (reason `Accepted`) and drift-events serves it; one that does not
is `Stalled` (`InvalidExpression`, or `InvalidTrigger` for a spec the models refuse) and drift-events
leaves it alone. The event counters in the status are drift-events' to write; one status write here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from drift.metrics import RECONCILES
from drift.models.resources import GROUP, VERSION, WORKFLOW_TRIGGER
from drift.models.trigger import WorkflowTriggerSpec
from drift.trigger_events import compile_trigger
from drift.validation import DefinitionInvalid

from .definition_handlers import validation_message
from .trigger_status import Checked, trigger_status

KIND = WORKFLOW_TRIGGER.kind


def check(spec: Mapping[str, Any]) -> Checked:
    """Whether the spec parses and its expressions compile (the first problems named)."""
    try:
        compile_trigger(WorkflowTriggerSpec.model_validate(dict(spec)))
    except ValidationError as exc:
        return Checked("InvalidTrigger", validation_message(exc))
    except DefinitionInvalid as exc:
        return Checked(exc.reason, str(exc))
    return Checked("Accepted", "Filter and templates compile; drift-events serves the trigger")


@kopf.on.resume(GROUP, VERSION, WORKFLOW_TRIGGER.plural)
@kopf.on.create(GROUP, VERSION, WORKFLOW_TRIGGER.plural)
@kopf.on.update(GROUP, VERSION, WORKFLOW_TRIGGER.plural, field="spec")
def reconcile_trigger(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """A new or changed trigger: one status write with its conditions."""
    checked = check(body["spec"])
    RECONCILES.labels(KIND, "synced" if checked.ready else "invalid").inc()
    meta = body["metadata"]
    patch.status.update(trigger_status(checked, body.get("status") or {}, meta.get("generation"), datetime.now(UTC)))
