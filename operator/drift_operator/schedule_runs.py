"""The WorkflowRuns of a WorkflowSchedule (and a WorkflowTrigger's recorded runs): how one is made for a
fire, how they are seen, which expire."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drift.conditions import parse_timestamp, timestamp
from drift.models.resources import API_VERSION, GROUP, WORKFLOW_RUN, WORKFLOW_SCHEDULE
from drift.models.run import FINAL_PHASES

SCHEDULE_LABEL = f"{GROUP}/schedule"
"""On every run a schedule started: the schedule's name (select them with `-l drift.dev/schedule=NAME`)."""
SCHEDULED_AT = f"{GROUP}/scheduled-at"
"""Annotation: the fire time the run was started for."""


@dataclass(frozen=True)
class ScheduledRun:
    """What the schedule (or trigger) needs to know of one of its runs (kept in a kopf index)."""

    name: str
    uid: str
    owner_uid: str | None
    phase: str | None
    scheduled_at: datetime | None
    """The fire time (a trigger's run: when its execution started)."""

    @property
    def finished(self) -> bool:
        return self.phase in FINAL_PHASES


def scheduled_run(schedule: Mapping[str, Any], name: str, scheduled_at: datetime) -> dict[str, Any]:
    """The WorkflowRun a fire creates: the schedule's workflow and input, owned by the schedule."""
    meta, spec = schedule["metadata"], schedule["spec"]
    owner = {
        "apiVersion": API_VERSION,
        "kind": WORKFLOW_SCHEDULE.kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": WORKFLOW_RUN.kind,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {**(meta.get("labels") or {}), SCHEDULE_LABEL: meta["name"]},
            "annotations": {SCHEDULED_AT: timestamp(scheduled_at)},
            "ownerReferences": [owner],
        },
        "spec": {"workflowRef": spec["workflowRef"], "input": spec.get("input") or {}},
    }


def seen_run(body: Mapping[str, Any], at: str = SCHEDULED_AT) -> ScheduledRun:
    """A run as the schedule's (or trigger's) index keeps it; `at`: the annotation holding its time."""
    meta = body["metadata"]
    owner = next((ref["uid"] for ref in meta.get("ownerReferences") or () if ref.get("controller")), None)
    return ScheduledRun(
        name=meta["name"],
        uid=meta["uid"],
        owner_uid=owner,
        phase=(body.get("status") or {}).get("phase"),
        scheduled_at=parse_timestamp((meta.get("annotations") or {}).get(at)),
    )


def newest_first(runs: Iterable[ScheduledRun]) -> list[ScheduledRun]:
    """By fire time, newest first (a run without one last)."""
    return sorted(runs, key=lambda run: (run.scheduled_at is not None, run.scheduled_at or 0, run.name), reverse=True)


def expired(runs: Iterable[ScheduledRun], succeeded_limit: int, failed_limit: int) -> list[ScheduledRun]:
    """Finished runs beyond the history limits (the newest are kept): Succeeded, and the others that ended."""
    finished = [run for run in newest_first(runs) if run.finished]
    succeeded = [run for run in finished if run.phase == "Succeeded"]
    failed = [run for run in finished if run.phase != "Succeeded"]
    return succeeded[succeeded_limit:] + failed[failed_limit:]
