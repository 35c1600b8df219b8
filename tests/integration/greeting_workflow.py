"""Minimal Temporal workflows and an activity, in a module of their own for the workflow sandbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError


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


@workflow.defn
class RefusingWorkflow:
    """Fails at once with an application error (the execution closes FAILED)."""

    @workflow.run
    async def run(self, reason: str) -> str:
        raise ApplicationError(reason, type="Refused")
