"""Temporal Schedule calls of the operator: one Temporal Schedule per WorkflowSchedule, id `drift/{ns}/{name}`."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError, RPCStatusCode

from drift.models.schedule import ConcurrencyPolicy, WorkflowScheduleSpec
from drift.settings import TemporalSettings

from .schedule_fire import FIRE_WORKFLOW, Fire

OVERLAP: dict[ConcurrencyPolicy, ScheduleOverlapPolicy] = {
    "Allow": ScheduleOverlapPolicy.ALLOW_ALL,
    "Forbid": ScheduleOverlapPolicy.SKIP,
    "Replace": ScheduleOverlapPolicy.CANCEL_OTHER,
}
"""concurrencyPolicy -> Temporal's overlap policy (Replace cancels the fire workflow, which cancels its run)."""


def schedule_id(namespace: str, name: str) -> str:
    """The Temporal Schedule of a WorkflowSchedule (also the prefix of its fires' workflow ids)."""
    return f"drift/{namespace}/{name}"


def task_queue(settings: TemporalSettings) -> str:
    """Where fires run: the operator's own worker, beside the run workers' queue."""
    return f"{settings.task_queue}-schedules"


def temporal_schedule(spec: WorkflowScheduleSpec, fire: Fire, queue: str) -> Schedule:
    """The Temporal Schedule for `spec`: cron and time zone, overlap policy, catch-up window, paused."""
    deadline = spec.starting_deadline_seconds
    catchup = None if deadline is None else timedelta(seconds=deadline)  # None: Temporal's default, one year
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FIRE_WORKFLOW, fire, id=schedule_id(fire.namespace, fire.schedule), task_queue=queue
        ),
        spec=ScheduleSpec(cron_expressions=[spec.schedule], time_zone_name=spec.time_zone),
        policy=SchedulePolicy(overlap=OVERLAP[spec.concurrency_policy], catchup_window=catchup),
        state=ScheduleState(paused=spec.suspend, note="WorkflowSchedule suspended" if spec.suspend else None),
    )


async def apply(client: Client, sid: str, schedule: Schedule) -> None:
    """Create the Temporal Schedule, or replace the one in place; its paused state follows `schedule`."""
    try:
        await client.create_schedule(sid, schedule)
        return
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(sid)
    await handle.update(lambda _: ScheduleUpdate(schedule=schedule))
    paused = (await handle.describe()).schedule.state.paused
    if paused and not schedule.state.paused:
        await handle.unpause(note="WorkflowSchedule resumed")
    elif schedule.state.paused and not paused:
        await handle.pause(note=schedule.state.note)


async def describe(client: Client, sid: str) -> ScheduleDescription | None:
    """The Temporal Schedule, or None if there is none."""
    try:
        return await client.get_schedule_handle(sid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def delete(client: Client, sid: str) -> None:
    """Delete the Temporal Schedule (its fires in flight go on); none is fine."""
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
