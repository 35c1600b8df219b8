"""kopf handlers of WorkflowSchedule: keep its Temporal Schedule in step with the spec, show fires and runs.

Each fire runs `DriftScheduleFire` (schedule_fire) on the operator's own Temporal worker, which creates the
fire's WorkflowRun, owned by the schedule. A timer (every REFRESH_SECONDS) re-reads the Temporal Schedule
(last and next fire), the schedule's runs (from a kopf index: active runs) and deletes finished runs past
the history limits; one status write per reconcile. Deleting the schedule deletes its Temporal Schedule
(kopf's finalizer); its runs go with it through their ownerReferences (the garbage collector).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import kopf
from pydantic import ValidationError
from temporalio.client import ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from drift.conditions import timestamp
from drift.metrics import RECONCILES
from drift.models.resources import GROUP, VERSION, WORKFLOW_RUN, WORKFLOW_SCHEDULE
from drift.models.schedule import WorkflowScheduleSpec

from . import schedules
from .clients import Services
from .definition_handlers import validation_message
from .schedule_fire import Fire
from .schedule_runs import ScheduledRun, expired
from .schedule_status import Observed, schedule_status

REFRESH_SECONDS = 10.0
"""Each schedule's fire times, active runs and history limits are brought up to date this often."""
RETRY_SECONDS = 5.0
"""Retry delay while Temporal does not answer."""
KIND = WORKFLOW_SCHEDULE.kind


def _checked(spec: Mapping[str, Any]) -> WorkflowScheduleSpec | Observed:
    """The spec, or why it cannot be scheduled (the shape of the cron is checked at admission already)."""
    try:
        parsed = WorkflowScheduleSpec.model_validate(dict(spec))
    except ValidationError as exc:
        return Observed("InvalidSchedule", validation_message(exc))
    try:
        ZoneInfo(parsed.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return Observed("InvalidTimeZone", f'spec.timeZone: unknown time zone "{parsed.time_zone}"')
    return parsed


def _seen(spec: WorkflowScheduleSpec, sid: str, description: ScheduleDescription) -> Observed:
    """What the Temporal Schedule says: the last fire and (unless suspended) the next."""
    info = description.info
    last = info.recent_actions[-1].scheduled_at if info.recent_actions else None
    if spec.suspend:
        return Observed("Suspended", "Suspended: no fires", schedule_id=sid, last_fire=last)
    upcoming = next(iter(info.next_action_times), None)
    when = timestamp(upcoming) if upcoming else "none"
    return Observed("Scheduled", f"Next fire {when}", schedule_id=sid, last_fire=last, next_fire=upcoming)


async def _observe(
    body: Mapping[str, Any], runs: list[ScheduledRun], services: Services, *, apply: bool
) -> tuple[Observed, list[ScheduledRun]]:
    """Apply the spec to the Temporal Schedule when asked (or when it is missing), describe it, delete the
    finished runs past the history limits: what was seen, and the runs kept."""
    meta = body["metadata"]
    checked = _checked(body["spec"])
    if isinstance(checked, Observed):
        return checked, runs
    sid = schedules.schedule_id(meta["namespace"], meta["name"])
    description = None if apply else await schedules.describe(services.temporal, sid)
    if description is None:
        fire = Fire(namespace=meta["namespace"], schedule=meta["name"], uid=meta["uid"])
        queue = schedules.task_queue(services.settings.temporal)
        try:
            await schedules.apply(services.temporal, sid, schedules.temporal_schedule(checked, fire, queue))
        except RPCError as exc:
            if exc.status != RPCStatusCode.INVALID_ARGUMENT:
                raise
            return Observed("InvalidSchedule", f"spec.schedule: Temporal refused it: {exc.message}"), runs
        description = await schedules.describe(services.temporal, sid)
    if description is None:
        raise RPCError("the Temporal Schedule is gone right after it was written", RPCStatusCode.UNAVAILABLE, b"")
    gone = expired(runs, checked.successful_runs_history_limit, checked.failed_runs_history_limit)
    for run in gone:
        await services.kube.delete(WORKFLOW_RUN.plural, meta["namespace"], run.name, run.uid)
    return _seen(checked, sid, description), [run for run in runs if run not in gone]


async def _sync(body: Mapping[str, Any], patch: kopf.Patch, services: Services, *, apply: bool) -> None:
    """One reconcile of a schedule: observe, then one status write (through kopf's patch)."""
    meta, previous = body["metadata"], body.get("status") or {}
    runs = [
        run for run in services.index.schedule_runs(meta["namespace"], meta["name"]) if run.owner_uid == meta["uid"]
    ]
    apply = apply or previous.get("observedGeneration") != meta.get("generation")
    try:
        observed, runs = await _observe(body, runs, services, apply=apply)
    except RPCError as exc:
        RECONCILES.labels(KIND, "retry").inc()
        observed = Observed("TemporalUnavailable", f"Temporal: {exc.message}")
        patch.status.update(schedule_status(observed, previous, meta.get("generation"), datetime.now(UTC)))
        raise kopf.TemporaryError(str(exc), delay=RETRY_SECONDS) from None
    RECONCILES.labels(KIND, "synced" if observed.reason in ("Scheduled", "Suspended") else "invalid").inc()
    now = datetime.now(UTC)
    patch.status.update(schedule_status(replace(observed, runs=runs), previous, meta.get("generation"), now))


@kopf.on.resume(GROUP, VERSION, WORKFLOW_SCHEDULE.plural)
@kopf.on.create(GROUP, VERSION, WORKFLOW_SCHEDULE.plural)
@kopf.on.update(GROUP, VERSION, WORKFLOW_SCHEDULE.plural)
async def reconcile_schedule(body: kopf.Body, patch: kopf.Patch, memo: Services, **_: Any) -> None:
    """A new or changed schedule, or the operator's start: write the Temporal Schedule from the spec."""
    await _sync(body, patch, memo, apply=True)


@kopf.timer(GROUP, VERSION, WORKFLOW_SCHEDULE.plural, interval=REFRESH_SECONDS)
async def refresh_schedule(body: kopf.Body, patch: kopf.Patch, memo: Services, **_: Any) -> None:
    """Fire times, active runs and history limits (the Temporal Schedule is rewritten only if missing)."""
    await _sync(body, patch, memo, apply=False)


@kopf.on.delete(GROUP, VERSION, WORKFLOW_SCHEDULE.plural)
async def delete_schedule(body: kopf.Body, memo: Services, **_: Any) -> None:
    """Delete the Temporal Schedule (a finalizer: no schedule keeps firing for a deleted object)."""
    meta = body["metadata"]
    try:
        await schedules.delete(memo.temporal, schedules.schedule_id(meta["namespace"], meta["name"]))
    except RPCError as exc:
        raise kopf.TemporaryError(str(exc), delay=RETRY_SECONDS) from None
