"""The activities of `DriftScheduleFire`, run by the operator's Temporal worker: its Kubernetes calls."""

from __future__ import annotations

import asyncio

from temporalio import activity

from drift.kube_client import Kube
from drift.models.resources import WORKFLOW_RUN, WORKFLOW_SCHEDULE

from .schedule_fire import AWAIT_RUN, CANCEL_RUN, CREATE_RUN, RunRef, RunRequest
from .schedule_runs import scheduled_run, seen_run

POLL_SECONDS = 5.0
"""How often AWAIT_RUN looks at the run's phase."""


class ScheduleActivities:
    """Create, await and cancel the WorkflowRun of one fire."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    @activity.defn(name=CREATE_RUN)
    async def create_run(self, request: RunRequest) -> bool:
        """Create the fire's run; False (nothing created) when the schedule is gone, deleted or re-created."""
        fire = request.fire
        schedule = await self.kube.get(WORKFLOW_SCHEDULE.plural, fire.namespace, fire.schedule)
        if schedule is None or schedule["metadata"]["uid"] != fire.uid or schedule["metadata"].get("deletionTimestamp"):
            activity.logger.info("schedule %s/%s is gone: no run for this fire", fire.namespace, fire.schedule)
            return False
        body = scheduled_run(schedule, request.run, request.scheduled_at)
        if await self.kube.create(WORKFLOW_RUN.plural, fire.namespace, body) is not None:
            return True
        existing = await self.kube.get(WORKFLOW_RUN.plural, fire.namespace, request.run)  # an earlier attempt's?
        return existing is not None and seen_run(existing).owner_uid == fire.uid

    @activity.defn(name=AWAIT_RUN)
    async def await_run(self, run: RunRef) -> None:
        """Return once the run has finished or is gone (heartbeating meanwhile)."""
        while True:
            body = await self.kube.get(WORKFLOW_RUN.plural, run.namespace, run.name)
            if body is None or seen_run(body).finished:
                return
            activity.heartbeat()
            await asyncio.sleep(POLL_SECONDS)

    @activity.defn(name=CANCEL_RUN)
    async def cancel_run(self, run: RunRef) -> None:
        """Set `spec.cancel` on the run (concurrencyPolicy Replace); a run that is gone is fine."""
        await self.kube.patch(WORKFLOW_RUN.plural, run.namespace, run.name, {"spec": {"cancel": True}})

    def all(self) -> list[object]:
        """The activities to register on the worker."""
        return [self.create_run, self.await_run, self.cancel_run]
