"""The worker's run-event publisher against real Redis servers: no event dropped under load or after a restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from drift.run_contract import RunEvent, RunSnapshot
from drift.settings import redis_url
from drift_worker.run_event_publisher import PublisherSettings, RunEventPublisher

pytestmark = pytest.mark.stack


def event(sequence: int) -> RunEvent:
    return RunEvent(workflow_id=f"default/run/{sequence}", snapshot=RunSnapshot(sequence=sequence))


async def received(url: str, channel: str, count: int, publish: Callable[[], Awaitable[None]]) -> set[int]:
    """Sequences of the events seen on `channel` after `publish()`, until `count` arrived (or 20 s)."""
    client = aioredis.Redis.from_url(url)
    seen: set[int] = set()
    async with client.pubsub() as bus:
        await bus.subscribe(channel)
        await bus.get_message(timeout=2)  # the subscribe confirmation
        await publish()
        async with asyncio.timeout(20):
            while len(seen) < count:
                message = await bus.get_message(timeout=1)
                if message and message["type"] == "message":
                    seen.add(RunEvent.model_validate_json(message["data"]).snapshot.sequence)
    await client.aclose()
    return seen


async def test_a_burst_larger_than_the_pool_waits_for_connections_and_loses_nothing(stack_env):
    channel = f"test-{uuid.uuid4()}"
    publisher = RunEventPublisher(redis_url(), channel, PublisherSettings(connections=4))

    async def burst() -> None:
        assert all(await asyncio.gather(*(publisher.publish(event(i)) for i in range(500))))

    assert await received(redis_url(), channel, 500, burst) == set(range(500))
    await publisher.close()


async def test_publishing_after_a_redis_restart_reconnects_instead_of_dropping(private_redis):
    publisher = RunEventPublisher(private_redis.url, "runs")
    assert await publisher.publish(event(1))  # a pooled connection now exists
    private_redis.kill()
    private_redis.start()

    async def after_restart() -> None:
        assert await publisher.publish(event(2))

    assert await received(private_redis.url, "runs", 1, after_restart) == {2}
    await publisher.close()


async def test_a_publish_while_redis_is_down_is_retried_until_it_is_back(private_redis):
    publisher = RunEventPublisher(private_redis.url, "runs")
    assert await publisher.publish(event(1))
    private_redis.kill()
    began = time.monotonic()
    publishing = asyncio.create_task(publisher.publish(event(2)))
    await asyncio.sleep(1.5)
    assert not publishing.done()  # retrying, not dropped
    await asyncio.to_thread(private_redis.start)
    assert await publishing
    assert time.monotonic() - began < 5
    await publisher.close()
