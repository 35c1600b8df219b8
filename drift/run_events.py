"""The readers' end of the run-events channel (the operator, drift-events): one Redis subscription for all
runs, reconnecting forever.

The worker publishes a `RunEvent` after every node. Each valid event is handed to `deliver` with the
subscription epoch it arrived in: the epoch grows with every (re)subscription, so a reader can tell whether
a run's snapshot came from the live subscription or events may have been missed since (then it asks Temporal).
Redis pub/sub keeps nothing for an absent subscriber, so every resubscription after the first also calls
`resubscribed`: the operator then re-reads its unfinished runs (run_catchup) instead of waiting for the resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .metrics import RUN_EVENTS
from .run_contract import RunEvent

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 1.0
"""Longest pause between two reconnection attempts: one connection to try, so a restarted Redis is seen soon."""


class RunEvents:
    """The subscription: `epoch` (0 while never subscribed) and whether it is `connected` now."""

    def __init__(self) -> None:
        self.epoch = 0
        self.connected = False

    def live(self, epoch: int) -> bool:
        """True if a snapshot from `epoch` is current: subscribed since, nothing missed."""
        return self.connected and epoch == self.epoch

    async def subscribe(
        self,
        redis_url: str,
        channel: str,
        deliver: Callable[[RunEvent, int], None],
        resubscribed: Callable[[], object] = lambda: None,
    ) -> None:
        """Hand every RunEvent on `channel` to `deliver(event, epoch)`, forever; reconnects with backoff (at most
        MAX_BACKOFF_SECONDS apart) and calls `resubscribed()` on every subscription after the first."""
        backoff = 0.1
        client = aioredis.Redis.from_url(
            redis_url, health_check_interval=5, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        try:
            while True:
                try:
                    async with client.pubsub() as pubsub:
                        await pubsub.subscribe(channel)
                        while True:
                            message = await pubsub.get_message(timeout=5.0)
                            if message is None:
                                continue
                            if message["type"] == "subscribe":
                                self.epoch += 1
                                self.connected, backoff = True, 0.1
                                log.info("subscribed to run events on %s", channel)
                                if self.epoch > 1:
                                    resubscribed()
                            elif message["type"] == "message" and (event := _parse(message["data"])):
                                deliver(event, self.epoch)
                except (RedisError, OSError) as exc:
                    if self.connected:
                        log.warning("run events channel lost (%s); resync covers the gap", exc)
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()


def _parse(data: bytes) -> RunEvent | None:
    try:
        return RunEvent.model_validate_json(data)
    except ValidationError as exc:
        RUN_EVENTS.labels("invalid").inc()
        log.warning("ignoring malformed run event: %s", exc.errors()[:1])
        return None
