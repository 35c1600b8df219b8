"""Hand-written Temporal workflows of 10 no-op activities: the baselines Drift's chain is measured against."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

CHAIN_LENGTH = 10


@activity.defn
async def noop(step: int) -> int:
    """Does nothing: the cost measured is Temporal's."""
    return step


@workflow.defn
class RemoteChain:
    """10 sequential remote activities (each a task-queue round trip)."""

    @workflow.run
    async def run(self) -> int:
        for step in range(CHAIN_LENGTH):
            await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        return CHAIN_LENGTH


@workflow.defn
class LocalChain:
    """10 sequential local activities (run by the worker inside the workflow task)."""

    @workflow.run
    async def run(self) -> int:
        for step in range(CHAIN_LENGTH):
            await workflow.execute_local_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        return CHAIN_LENGTH
