"""`DriftScheduleFire`: what a WorkflowSchedule's Temporal Schedule starts at each fire.

It creates the fire's WorkflowRun (an activity of the operator) and waits until that run finishes, so
Temporal's overlap policy sees an unfinished run as a running action: Forbid skips a fire meanwhile, and
Replace cancels this workflow, which then cancels the run. Workflow code: no I/O, deterministic.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

FIRE_WORKFLOW = "DriftScheduleFire"
CREATE_RUN = "drift.schedule.create_run"
AWAIT_RUN = "drift.schedule.await_run"
CANCEL_RUN = "drift.schedule.cancel_run"
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by Temporal on every workflow a Schedule starts: the fire time it was started for."""
KUBE_CALL = timedelta(seconds=30)
KUBE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
"""Kubernetes calls are retried for as long as it takes (the API server may be down for a while)."""
RUN_POLL_HEARTBEAT = timedelta(seconds=60)
"""AWAIT_RUN heartbeats while it polls: an operator that died is noticed this fast and the poll moves on."""
RUN_LIFETIME = timedelta(days=3650)
"""AWAIT_RUN's own bound: a run has no time limit unless its Workflow sets one."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Fire(_Model):
    """The Schedule's argument: which WorkflowSchedule (its uid: a re-created namesake is another schedule)."""

    namespace: str
    schedule: str
    uid: str


class RunRequest(_Model):
    """Create the run `run` for the fire at `scheduled_at`."""

    fire: Fire
    run: str
    scheduled_at: datetime


class RunRef(_Model):
    """One WorkflowRun."""

    namespace: str
    name: str


def run_name(schedule: str, scheduled_at: datetime) -> str:
    """The fire's WorkflowRun: fixed by the fire time, so a retried creation finds the run it made."""
    return f"{schedule}-{int(scheduled_at.timestamp())}"


@workflow.defn(name=FIRE_WORKFLOW)
class ScheduleFire:
    """Create the fire's run, then wait for it; cancelled (concurrencyPolicy Replace): cancel the run."""

    @workflow.run
    async def run(self, fire: Fire) -> str | None:
        """The run's name, or None when the schedule is gone or was re-created (nothing is created)."""
        info = workflow.info()
        scheduled_at = info.typed_search_attributes.get(SCHEDULED_START) or info.start_time
        run = RunRef(namespace=fire.namespace, name=run_name(fire.schedule, scheduled_at.astimezone(UTC)))
        try:
            created = await workflow.execute_activity(
                CREATE_RUN,
                RunRequest(fire=fire, run=run.name, scheduled_at=scheduled_at),
                result_type=bool,
                start_to_close_timeout=KUBE_CALL,
                retry_policy=KUBE_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            if not created:
                return None
            await workflow.execute_activity(
                AWAIT_RUN,
                run,
                start_to_close_timeout=RUN_LIFETIME,
                heartbeat_timeout=RUN_POLL_HEARTBEAT,
                retry_policy=KUBE_RETRY,
            )
        except (asyncio.CancelledError, ActivityError) as err:
            if not is_cancelled_exception(err):
                raise
            await workflow.execute_activity(CANCEL_RUN, run, start_to_close_timeout=KUBE_CALL, retry_policy=KUBE_RETRY)
            raise
        return run.name
