"""The worker's run-event publisher against real Redis servers: no event dropped under load or after a restart."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from drift.run_contract import RunEvent, RunSnapshot
from drift.settings import redis_url
from drift_devstack.toolchain import redis_server
from drift_worker.run_event_publisher import PublisherSettings, RunEventPublisher
from tests.conftest import _free_port

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


class PrivateRedis:
    """A redis-server of the test's own on a free port, killed and started again on that port."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.workdir),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


async def test_publishing_after_a_redis_restart_reconnects_instead_of_dropping(private_redis):
    publisher = RunEventPublisher(private_redis.url, "runs")
    assert await publisher.publish(event(1))  # a pooled connection now exists
    private_redis.kill()
    private_redis.start()

    async def after_restart() -> None:
        assert await publisher.publish(event(2))

    assert await received(private_redis.url, "runs", 1, after_restart) == {2}
    await publisher.close()
