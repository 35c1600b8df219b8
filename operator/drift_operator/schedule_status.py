"""A WorkflowSchedule's status, a pure function of what one reconcile observed.

Reasons are API: `Scheduled` and `Suspended` (Ready), `TemporalUnavailable` (Reconciling: retried),
`InvalidSchedule` and `InvalidTimeZone` (Stalled: a person must change the spec).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drift.conditions import definition_conditions, set_conditions, timestamp
from drift.models.schedule import MAX_ACTIVE_SHOWN

from .schedule_runs import ScheduledRun, newest_first

READY_REASONS = ("Scheduled", "Suspended")


@dataclass(frozen=True)
class Observed:
    """What one reconcile of a schedule saw."""

    reason: str
    """Scheduled, Suspended, TemporalUnavailable, InvalidSchedule or InvalidTimeZone."""
    message: str
    runs: Sequence[ScheduledRun] = ()
    """The runs this schedule (this uid) started that still exist."""
    schedule_id: str | None = None
    last_fire: datetime | None = None
    """Temporal's latest fire time, if it still lists one."""
    next_fire: datetime | None = None


def schedule_status(
    observed: Observed, previous: Mapping[str, Any], generation: int | None, now: datetime
) -> dict[str, Any]:
    """The status fields that change (a merge patch: removed fields are None)."""
    runs = newest_first(observed.runs)
    fires = [run.scheduled_at for run in runs if run.scheduled_at] + (
        [observed.last_fire] if observed.last_fire else []
    )
    last_fire = max(fires, default=None)
    ready = observed.reason in READY_REASONS
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "scheduleId": observed.schedule_id or previous.get("scheduleId"),
        "lastScheduleTime": timestamp(last_fire) if last_fire else previous.get("lastScheduleTime"),
        "nextScheduleTime": timestamp(observed.next_fire) if observed.next_fire else None,
        "lastRun": runs[0].name if runs else previous.get("lastRun"),
        "active": [
            {"name": run.name, **({"scheduledAt": timestamp(run.scheduled_at)} if run.scheduled_at else {})}
            for run in runs
            if not run.finished
        ][:MAX_ACTIVE_SHOWN],
        "conditions": set_conditions(
            previous.get("conditions"),
            definition_conditions(ready, observed.reason == "TemporalUnavailable", observed.reason, observed.message),
            generation,
            now,
        ),
    }
    return {key: value for key, value in status.items() if previous.get(key) != value}
