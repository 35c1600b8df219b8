"""The status queue: a bounded number of status writes at once, runs at rest before runs reporting progress."""

from __future__ import annotations

import asyncio

from drift_operator.status_queue import StatusQueue


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Writes:
    """Runs that take a slot, note their turn, and hold the slot until released."""

    def __init__(self, queue: StatusQueue) -> None:
        self.queue = queue
        self.order: list[str] = []
        self.inside = 0
        self.most_inside = 0
        self.release: dict[str, asyncio.Event] = {}

    def start(self, key: str, *, at_rest: bool = False) -> asyncio.Task[None]:
        self.release[key] = asyncio.Event()
        return asyncio.create_task(self._write(key, at_rest))

    async def _write(self, key: str, at_rest: bool) -> None:
        async with self.queue.slot(key, at_rest=at_rest):
            self.order.append(key)
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            await self.release[key].wait()
            self.inside -= 1

    async def finish(self, key: str) -> None:
        self.release[key].set()
        await _settle()


async def test_no_more_writes_than_slots_at_once_and_each_gets_its_turn():
    writes = Writes(StatusQueue(2))
    tasks = [writes.start(f"run-{i}") for i in range(5)]
    await _settle()
    assert writes.order == ["run-0", "run-1"]
    for i in range(5):
        await writes.finish(f"run-{i}")
    await asyncio.wait_for(asyncio.gather(*tasks), 1.0)
    assert writes.order == [f"run-{i}" for i in range(5)]
    assert writes.most_inside == 2


async def test_a_run_at_rest_goes_before_runs_reporting_progress():
    writes = Writes(StatusQueue(1))
    tasks = [writes.start("busy"), writes.start("progress-1"), writes.start("progress-2")]
    await _settle()
    tasks.append(writes.start("waiting", at_rest=True))
    await _settle()
    for key in ("busy", "waiting", "progress-1", "progress-2"):
        await writes.finish(key)
    await asyncio.wait_for(asyncio.gather(*tasks), 1.0)
    assert writes.order == ["busy", "waiting", "progress-1", "progress-2"]


async def test_a_waiting_run_whose_news_turns_at_rest_moves_ahead():
    queue = StatusQueue(1)
    writes = Writes(queue)
    tasks = [writes.start("busy"), writes.start("progress-1"), writes.start("progress-2")]
    await _settle()
    queue.promote("progress-2")
    for key in ("busy", "progress-2", "progress-1"):
        await writes.finish(key)
    await asyncio.wait_for(asyncio.gather(*tasks), 1.0)
    assert writes.order == ["busy", "progress-2", "progress-1"]


async def test_a_cancelled_waiter_leaves_no_slot_taken():
    writes = Writes(StatusQueue(1))
    busy, gone = writes.start("busy"), writes.start("gone")
    await _settle()
    gone.cancel()
    await writes.finish("busy")
    later = writes.start("later")
    await _settle()
    assert writes.order == ["busy", "later"]
    await writes.finish("later")
    await asyncio.wait_for(asyncio.gather(busy, later), 1.0)
    assert gone.cancelled()
