"""The worker's end of the run-events channel: publish every snapshot, waiting for a connection, never dropping one.

A bounded pool that waits for a free connection (instead of failing with "Too many connections" when every
connection is busy), and a retry with backoff that reconnects: after Redis restarts, the pooled connections
are dead, the first publish on each fails and is retried on a fresh connection. Only an outage longer than
the retries (about `give_up_seconds`) drops an event; the operator's resync covers that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from drift.run_contract import RunEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublisherSettings:
    """Pool and retry of the run-events publisher."""

    connections: int = 16
    """At most this many connections; a publish waits for a free one (a PUBLISH takes well under 1 ms)."""
    wait_seconds: float = 10.0
    """How long a publish may wait for a free connection before it counts as failed (and is retried)."""
    retries: int = 8
    """Attempts after the first, with exponential backoff from 50 ms up to 2 s: about 8 s in all."""


class RunEventPublisher:
    """PUBLISH of `RunEvent`s on the run-events channel through its own bounded, retrying pool."""

    def __init__(self, url: str, channel: str, settings: PublisherSettings | None = None) -> None:
        settings = settings or PublisherSettings()
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=settings.connections,
            timeout=settings.wait_seconds,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=5,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), settings.retries),  # on connection errors, timeouts
        )
        self.client = aioredis.Redis(connection_pool=pool)
        self.channel = channel

    async def publish(self, event: RunEvent) -> bool:
        """Publish `event`; False (logged) only when Redis stayed unreachable through every retry."""
        try:
            await self.client.publish(self.channel, event.model_dump_json())
        except (RedisError, OSError) as exc:
            log.warning("run event of %s not published (%s); the operator will resync", event.workflow_id, exc)
            return False
        return True

    async def close(self) -> None:
        await self.client.aclose()
