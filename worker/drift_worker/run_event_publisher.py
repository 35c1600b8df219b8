"""The worker's end of the run-events channel: publish every snapshot, waiting for a connection, retrying.

A bounded pool that waits for a free connection (instead of failing with "Too many connections" when every
connection is busy), and a publish retried with backoff: after Redis restarts the pooled connections are
dead, so a failed PUBLISH is retried at once on a fresh connection, and while Redis is down (or no connection
frees up in time) the publish tries again until `give_up_seconds`. Only an outage longer than that drops an
event (logged); the operator re-reads its runs when its subscription comes back, and its resync covers the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from drift.run_contract import RunEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublisherSettings:
    """Pool and retry of the run-events publisher."""

    connections: int = 16
    """At most this many connections; a publish waits for a free one (a PUBLISH takes well under 1 ms)."""
    wait_seconds: float = 5.0
    """How long one attempt may wait for a free connection before it counts as failed (and is retried)."""
    give_up_seconds: float = 20.0
    """How long a publish keeps retrying (backoff 50 ms doubling up to 1 s): below the 30 s timeout of the
    local activity that publishes."""


class RunEventPublisher:
    """PUBLISH of `RunEvent`s on the run-events channel through its own bounded, retrying pool."""

    def __init__(self, url: str, channel: str, settings: PublisherSettings | None = None) -> None:
        self.settings = settings or PublisherSettings()
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=self.settings.connections,
            timeout=self.settings.wait_seconds,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=5,
            retry=Retry(NoBackoff(), 1),  # a dead pooled connection: once more at once, on a fresh one
        )
        self.client = aioredis.Redis(connection_pool=pool)
        self.channel = channel

    async def publish(self, event: RunEvent) -> bool:
        """Publish `event`, retrying; False (logged) only when Redis stayed unreachable for `give_up_seconds`."""
        payload = event.model_dump_json()
        deadline = time.monotonic() + self.settings.give_up_seconds
        backoff = 0.05
        while True:
            try:
                await self.client.publish(self.channel, payload)
                return True
            except (RedisError, OSError) as exc:
                if time.monotonic() + backoff > deadline:
                    log.warning("run event of %s not published (%s); the operator will resync", event.workflow_id, exc)
                    return False
                log.debug("run event of %s not published yet (%s); retrying", event.workflow_id, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def close(self) -> None:
        await self.client.aclose()
