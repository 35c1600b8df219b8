"""A minimal Temporal workflow and activity, in a module of their own for the workflow sandbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def compose_greeting(name: str) -> str:
    """The activity: runs on the worker, outside the sandbox."""
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    """Calls one activity and returns its result."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(compose_greeting, name, start_to_close_timeout=timedelta(seconds=10))
