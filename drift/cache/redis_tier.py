"""Redis as a cache tier: short timeouts and a circuit breaker, so an outage costs reads nothing.

The connections are a bounded pool that waits for a free connection: a burst (the operator's start
re-announces every definition at once) queues instead of failing with redis-py's "Too many connections",
which would open the breaker and report Redis down while it is merely busy.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..errors import BackendUnavailable

log = logging.getLogger(__name__)


class RedisTier:
    """GET/SET/PUBLISH that never raise on the read path: a failure opens the breaker for `retry_after` s."""

    def __init__(self, url: str, *, timeout: float, retry_after: float, connections: int, pool_wait: float) -> None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=connections,
            timeout=pool_wait,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.client = aioredis.Redis(connection_pool=pool)
        self.retry_after = retry_after
        self._closed_until = 0.0

    @property
    def available(self) -> bool:
        """False while the breaker is open (after a recent failure)."""
        return time.monotonic() >= self._closed_until

    def _failed(self, exc: Exception) -> None:
        if self.available:
            log.warning("Redis unavailable (%s): reading from HBase for %.1fs", exc, self.retry_after)
        self._closed_until = time.monotonic() + self.retry_after

    async def get(self, key: str) -> tuple[bytes | None, bool]:
        """(value, reached): reached is False when Redis was skipped or failed."""
        if not self.available:
            return None, False
        try:
            return await self.client.get(key), True
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None, False

    async def fill(self, key: str, value: bytes, ttl: int, *, only_if_absent: bool) -> None:
        """Best-effort SET with a TTL (NX for readers filling a pointer, so they never undo a writer)."""
        if not self.available:
            return
        try:
            await self.client.set(key, value, ex=ttl, nx=only_if_absent)
        except (RedisError, OSError) as exc:
            self._failed(exc)

    async def announce(self, key: str, value: bytes, ttl: int, channel: str, message: bytes) -> None:
        """The writer's update: SET the new pointer, then PUBLISH; raises BackendUnavailable on failure."""
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                await pipe.set(key, value, ex=ttl).publish(channel, message).execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            raise BackendUnavailable("Redis", str(exc)) from None
        self._closed_until = 0.0

    async def close(self) -> None:
        await self.client.aclose()
