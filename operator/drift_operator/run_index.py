"""What the operator knows of every WorkflowRun from its watch events, kept by the run event handler: each run's
phase (the runs gauge), the runs of each schedule and trigger (their history limits) and the Pending runs of
each Workflow (started again when it becomes Ready).

kopf's indexes kept this before. With any kopf index on WorkflowRuns, kopf holds every handler until each
listed object is indexed, and wakes every waiting object's worker for each object indexed: quadratic in the
runs (measured: a restarted operator indexed 12 runs a second at a full core with 10,500 runs, and handled
nothing until all were). Here an event costs a few dictionary updates, and handlers never wait for the index:
right after a start it may not have seen every run yet (a schedule's history limit then deletes fewer runs,
never more; a Pending run not yet seen is reconciled at its own first sight).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from drift.trigger_events import STARTED_AT, TRIGGER_LABEL

from .schedule_runs import SCHEDULE_LABEL, SCHEDULED_AT, ScheduledRun, seen_run

Key = tuple[str, str]
"""(namespace, name) of a schedule, trigger or Workflow."""


class RunIndex:
    """Every WorkflowRun's phase, and the runs of each schedule, trigger and (Pending) Workflow."""

    def __init__(self) -> None:
        self._phases: dict[str, str] = {}
        self.phase_counts: Counter[str] = Counter()
        self._schedules: dict[Key, dict[str, ScheduledRun]] = {}
        self._triggers: dict[Key, dict[str, ScheduledRun]] = {}
        self._pending: dict[Key, dict[str, str]] = {}
        self._filed: dict[str, list[tuple[dict[Key, dict[str, Any]], Key]]] = {}
        """uid -> where the run is filed (to take it out when it changes or goes)."""

    def update(self, body: Mapping[str, Any]) -> None:
        """File the run as its body says now."""
        meta, status = body["metadata"], body.get("status") or {}
        uid, namespace = meta["uid"], meta["namespace"]
        self.remove(uid)
        phase = status.get("phase") or "Pending"
        self._phases[uid] = phase
        self.phase_counts[phase] += 1
        labels = meta.get("labels") or {}
        filed = []
        if SCHEDULE_LABEL in labels:
            filed.append((self._schedules, (namespace, labels[SCHEDULE_LABEL]), seen_run(body, SCHEDULED_AT)))
        if TRIGGER_LABEL in labels:
            filed.append((self._triggers, (namespace, labels[TRIGGER_LABEL]), seen_run(body, STARTED_AT)))
        if phase == "Pending":
            workflow = (body.get("spec") or {}).get("workflowRef", {}).get("name")
            filed.append((self._pending, (namespace, workflow), meta["name"]))
        for table, key, value in filed:
            table.setdefault(key, {})[uid] = value
        self._filed[uid] = [(table, key) for table, key, _ in filed]

    def remove(self, uid: str) -> None:
        """The run is gone (or about to be filed again)."""
        phase = self._phases.pop(uid, None)
        if phase is not None:
            self.phase_counts[phase] -= 1
        for table, key in self._filed.pop(uid, ()):
            entries = table.get(key, {})
            entries.pop(uid, None)
            if not entries:
                table.pop(key, None)

    def schedule_runs(self, namespace: str, name: str) -> list[ScheduledRun]:
        """The runs labelled with the schedule `namespace/name`."""
        return list(self._schedules.get((namespace, name), {}).values())

    def trigger_runs(self, namespace: str, name: str) -> list[ScheduledRun]:
        """The recorded runs labelled with the trigger `namespace/name`."""
        return list(self._triggers.get((namespace, name), {}).values())

    def pending_runs(self, namespace: str, workflow: str) -> list[str]:
        """Names of the runs of `workflow` not started yet."""
        return list(self._pending.get((namespace, workflow), {}).values())
