"""The operator's run-events subscription against a Redis server that restarts: it comes back by itself and says so."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from drift.run_contract import RunEvent, RunSnapshot
from drift.run_events import RunEvents

pytestmark = pytest.mark.stack


def event(sequence: int) -> RunEvent:
    return RunEvent(workflow_id="default/run/u1", snapshot=RunSnapshot(sequence=sequence))


async def publish(url: str, run_event: RunEvent) -> None:
    client = aioredis.Redis.from_url(url)
    await client.publish("runs", run_event.model_dump_json())
    await client.aclose()


async def until(check: Callable[[], object], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_after_a_redis_restart_it_resubscribes_calls_back_and_delivers_in_a_new_epoch(private_redis):
    events, delivered, resubscribed = RunEvents(), [], []
    subscriber = asyncio.create_task(
        events.subscribe(
            private_redis.url, "runs", lambda e, epoch: delivered.append((e.snapshot.sequence, epoch)),
            lambda: resubscribed.append(events.epoch),
        )
    )  # fmt: skip
    await until(lambda: events.connected, "the subscription")
    await publish(private_redis.url, event(1))
    await until(lambda: delivered, "the first event")
    assert resubscribed == []  # the first subscription is no resubscription

    private_redis.kill()
    await until(lambda: not events.connected, "the subscription to drop")
    await asyncio.to_thread(private_redis.start)
    await until(lambda: events.connected, "the resubscription", seconds=3)  # attempts at most a second apart
    assert resubscribed == [2]
    await publish(private_redis.url, event(2))
    await until(lambda: len(delivered) == 2, "the second event")
    assert delivered == [(1, 1), (2, 2)]
    assert not events.live(1)
    assert events.live(2)

    subscriber.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await subscriber
