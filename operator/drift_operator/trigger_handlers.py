"""kopf handlers of WorkflowTrigger: compile the filter and templates when the trigger is applied.

A trigger whose spec compiles is `Ready` (reason `Accepted`) and drift-events serves it; one that does not
is `Stalled` (`InvalidExpression`, or `InvalidTrigger` for a spec the models refuse) and drift-events
leaves it alone. The event counters in the status are drift-events' to write; one status write here. A
timer deletes the trigger's recorded runs past its history limits (newest kept), every PRUNE_SECONDS.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from drift.metrics import RECONCILES
from drift.models.resources import GROUP, VERSION, WORKFLOW_RUN, WORKFLOW_TRIGGER
from drift.models.trigger import WorkflowTriggerSpec
from drift.trigger_events import compile_trigger
from drift.validation import DefinitionInvalid

from .clients import Services
from .definition_handlers import validation_message
from .schedule_runs import expired
from .trigger_status import Checked, trigger_status

KIND = WORKFLOW_TRIGGER.kind
PRUNE_SECONDS = 10.0
"""Recorded runs past the history limits are deleted this often."""


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
async def reconcile_trigger(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """A new or changed trigger: one status write with its conditions."""
    checked = check(body["spec"])
    RECONCILES.labels(KIND, "synced" if checked.ready else "invalid").inc()
    meta, status = body["metadata"], body.get("status") or {}
    kafka = (body["spec"].get("source") or {}).get("kafka") is not None
    patch.status.update(trigger_status(checked, status, meta.get("generation"), datetime.now(UTC), kafka=kafka))


@kopf.timer(GROUP, VERSION, WORKFLOW_TRIGGER.plural, interval=PRUNE_SECONDS)
async def prune_trigger_runs(body: kopf.Body, memo: Services, **_: Any) -> None:
    """Delete the finished recorded runs past the history limits."""
    meta = body["metadata"]
    try:
        limits = WorkflowTriggerSpec.model_validate(dict(body["spec"])).runs
    except ValidationError:
        return
    runs = [run for run in memo.index.trigger_runs(meta["namespace"], meta["name"]) if run.owner_uid == meta["uid"]]
    for run in expired(runs, limits.successful_runs_history_limit, limits.failed_runs_history_limit):
        await memo.kube.delete(WORKFLOW_RUN.plural, meta["namespace"], run.name, run.uid)
