"""Hand-written Temporal workflows: the baselines Drift is measured against (chains, a fan-out, a batched map)."""

from __future__ import annotations

import asyncio
import time
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


@workflow.defn
class FanOut:
    """`count` remote activities at once with `asyncio.gather`: the hand-written parallel fan-out."""

    @workflow.run
    async def run(self, url: str, count: int) -> int:
        calls = [
            workflow.execute_activity("bench.http_get", url, start_to_close_timeout=timedelta(seconds=30))
            for _ in range(count)
        ]
        return sum(await asyncio.gather(*calls))


@workflow.defn
class ItemBatch:
    """One batch of a hand-written distributed map: two computations per item, in workflow code."""

    @workflow.run
    async def run(self, items: list[int], offset: int) -> list[int]:
        doubled = [item * 2 for item in items]
        return [value + offset + index for index, value in enumerate(doubled)]


@workflow.defn
class BatchedMap:
    """A hand-written distributed map: batches of 1,000 items, one child workflow each, one after the other."""

    @workflow.run
    async def run(self, items: list[int]) -> int:
        results: list[int] = []
        for offset in range(0, len(items), 1000):
            results += await workflow.execute_child_workflow(
                ItemBatch.run, args=[items[offset : offset + 1000], offset]
            )
        return len(results)


@workflow.defn
class SignalWaiter:
    """Waits for one signal (what a hand-written consumer sends for a matching event), then ends with it."""

    def __init__(self) -> None:
        self.event: dict | None = None

    @workflow.signal
    def deliver(self, event: dict) -> None:
        self.event = event

    @workflow.run
    async def run(self) -> dict:
        await workflow.wait_condition(lambda: self.event is not None)
        assert self.event is not None
        return self.event


class Arrivals:
    """Where `WaitsForAnswer` workflows report reaching their wait (their worker runs in the bench process)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        """(workflow id, time.monotonic()) as each arrives."""

    @activity.defn(name="arrived")
    async def arrived(self, workflow_id: str) -> None:
        """What a Drift run's context write and Waiting snapshot stand for."""
        self.queue.put_nowait((workflow_id, time.monotonic()))


@workflow.defn
class WaitsForAnswer:
    """One local activity, then waits for an answer (a signal) and ends: a hand-written instruction node."""

    def __init__(self) -> None:
        self.answered = False

    @workflow.signal
    def answer(self) -> None:
        self.answered = True

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_local_activity(
            "arrived", workflow.info().workflow_id, start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.wait_condition(lambda: self.answered)
