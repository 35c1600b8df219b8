"""Definition lookups through three tiers (in-process LRU -> Redis -> HBase) and the writer's publish.

Versions are immutable, so their cached copies never go stale; only the latest pointers are invalidated.
A writer stores the version (write-once), moves the HBase pointer, then SETs the new pointer in Redis
and PUBLISHes it; every reader drops its in-process pointer on the message. A reader keeps pointers
in-process only while its subscription is live (messages missed during an outage cannot go unnoticed),
and never caches a pointer fetched while an invalidation arrived.

Deleting a definition withdraws its pointer: HBase's row is deleted and Redis holds `WITHDRAWN` (with the
TTL) instead of deleting the key, so a reader that fetched the old pointer from HBase just before cannot
put it back (its fill is NX); the announcement drops every reader's in-process copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..metrics import CACHE_INVALIDATIONS, CACHE_REQUESTS
from ..storage.hbase import HBaseStore
from ..stored_definition import DefinitionKind, StoredDefinition
from .lru import TtlLru
from .redis_tier import RedisTier

log = logging.getLogger(__name__)
WITHDRAWN = b"-"
"""Redis value of a withdrawn pointer: readers answer "no latest version" and never fill over it."""


@dataclass(frozen=True)
class CacheSettings:
    """Sizes and lifetimes of the cache tiers (defaults: the predecessor's 1000 entries and 5 minutes)."""

    memory_entries: int = 1000
    """In-process entries per process (versions and pointers together)."""
    memory_ttl_seconds: float = 300.0
    """In-process lifetime of an entry."""
    redis_ttl_seconds: int = 300
    """Redis lifetime of an entry."""
    redis_timeout_seconds: float = 0.25
    """Socket timeout of a Redis call: past it the read goes to HBase."""
    redis_retry_after_seconds: float = 1.0
    """After a Redis failure, reads skip Redis this long before trying it again."""
    redis_connections: int = 32
    """At most this many Redis connections per process; a call beyond them waits for a free one."""
    redis_pool_wait_seconds: float = 2.0
    """How long a call may wait for a free connection before it counts as a Redis failure."""


class DefinitionCache:
    """Reads definitions for the worker and operator; publishes new versions for the operator."""

    def __init__(self, store: HBaseStore, redis_url: str, settings: CacheSettings | None = None) -> None:
        self.store = store
        self.settings = settings or CacheSettings()
        prefix = store.settings.table_prefix
        self._key = f"{prefix}def:{{kind}}:{{key}}"
        self._pointer = f"{prefix}latest:{{kind}}:{{ref}}"
        self.channel = f"{prefix}invalidate"
        self._redis_url = redis_url
        self.redis = RedisTier(
            redis_url,
            timeout=self.settings.redis_timeout_seconds,
            retry_after=self.settings.redis_retry_after_seconds,
            connections=self.settings.redis_connections,
            pool_wait=self.settings.redis_pool_wait_seconds,
        )
        self._versions: TtlLru[str, StoredDefinition] = TtlLru(
            self.settings.memory_entries, self.settings.memory_ttl_seconds
        )
        self._pointers: TtlLru[str, str] = TtlLru(self.settings.memory_entries, self.settings.memory_ttl_seconds)
        self._epoch = 0
        self._listening = False
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    # Reading ------------------------------------------------------------------------------------------

    async def get(
        self, kind: DefinitionKind, namespace: str, name: str, version: str | None = None
    ) -> StoredDefinition | None:
        """A definition version, or the latest one when `version` is None; None if there is none."""
        version = version or await self.latest(kind, f"{namespace}/{name}")
        return await self.version(kind, f"{namespace}/{name}_{version}") if version else None

    async def version(self, kind: DefinitionKind, key: str) -> StoredDefinition | None:
        """The definition stored under `{namespace}/{name}_{version}`."""
        cache_key = self._key.format(kind=kind, key=key)
        if (found := self._versions.get(cache_key)) is not None:
            CACHE_REQUESTS.labels("memory", kind, "hit").inc()
            return found
        CACHE_REQUESTS.labels("memory", kind, "miss").inc()
        body, reached = await self.redis.get(cache_key)
        CACHE_REQUESTS.labels("redis", kind, "hit" if body else "miss" if reached else "error").inc()
        if body is None:
            body = await self.store.get_version(kind, key)
            CACHE_REQUESTS.labels("hbase", kind, "hit" if body else "miss").inc()
            if body is None:
                return None
            await self.redis.fill(cache_key, body, self.settings.redis_ttl_seconds, only_if_absent=False)
        definition = StoredDefinition.from_body(body)
        self._versions.put(cache_key, definition)
        return definition

    async def latest(self, kind: DefinitionKind, ref: str) -> str | None:
        """The latest version of `{namespace}/{name}`."""
        pointer_key = self._pointer.format(kind=kind, ref=ref)
        if self._listening and (found := self._pointers.get(pointer_key)) is not None:
            CACHE_REQUESTS.labels("memory", kind, "hit").inc()
            return found
        CACHE_REQUESTS.labels("memory", kind, "miss").inc()
        epoch = self._epoch
        value, reached = await self.redis.get(pointer_key)
        CACHE_REQUESTS.labels("redis", kind, "hit" if value else "miss" if reached else "error").inc()
        if value == WITHDRAWN:
            return None
        version = value.decode() if value else None
        if version is None:
            version = await self.store.get_latest(kind, ref)
            CACHE_REQUESTS.labels("hbase", kind, "hit" if version else "miss").inc()
            if version is None:
                return None
            await self.redis.fill(pointer_key, version.encode(), self.settings.redis_ttl_seconds, only_if_absent=True)
        if self._listening and epoch == self._epoch:
            self._pointers.put(pointer_key, version)
        return version

    # Writing ------------------------------------------------------------------------------------------

    async def publish(self, definition: StoredDefinition) -> bool:
        """Store a new version and make it the latest everywhere; True if HBase had to be written.

        Idempotent: re-publishing the same definition writes nothing new to HBase (the pointer and the
        announcement are repeated, which is harmless). Raises BackendUnavailable naming HBase or Redis.
        """
        body = definition.body()
        written = await self.store.put_version(definition.kind, definition.key, body)
        if written or await self.store.get_latest(definition.kind, definition.ref) != definition.version:
            await self.store.set_latest(definition.kind, definition.ref, definition.version)
            written = True
        version_key = self._key.format(kind=definition.kind, key=definition.key)
        await self.redis.fill(version_key, body, self.settings.redis_ttl_seconds, only_if_absent=False)
        await self.announce(definition.kind, definition.ref, definition.version)
        return written

    async def withdraw(self, kind: DefinitionKind, ref: str) -> None:
        """The definition was deleted: remove its latest pointer everywhere; its versions stay (pinned runs).

        Idempotent. Raises BackendUnavailable naming HBase or Redis.
        """
        await self.store.delete_latest(kind, ref)
        await self.announce(kind, ref, None)

    async def announce(self, kind: DefinitionKind, ref: str, version: str | None) -> None:
        """Tell every reader that `ref`'s latest version is `version`, None: withdrawn (Redis SET + PUBLISH)."""
        message = json.dumps({"kind": kind, "ref": ref, "version": version}).encode()
        pointer_key = self._pointer.format(kind=kind, ref=ref)
        value = version.encode() if version else WITHDRAWN
        await self.redis.announce(pointer_key, value, self.settings.redis_ttl_seconds, self.channel, message)
        CACHE_INVALIDATIONS.labels("published").inc()
        self._drop(pointer_key)

    # Invalidation -------------------------------------------------------------------------------------

    def _drop(self, pointer_key: str | None = None) -> None:
        self._epoch += 1
        if pointer_key is None:
            self._pointers.clear()
        else:
            self._pointers.pop(pointer_key)

    async def start(self) -> None:
        """Start listening for invalidations (in the background; reconnects by itself)."""
        self._listener = asyncio.create_task(self._listen(), name="drift-cache-invalidations")

    async def _listen(self) -> None:
        backoff = 0.1
        client = aioredis.Redis.from_url(self._redis_url, health_check_interval=2, socket_connect_timeout=1)
        while True:
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":
                            self._drop()  # whatever changed while unsubscribed is unknown
                            self._listening, backoff = True, 0.1
                            self.subscribed.set()
                        elif message["type"] == "message":
                            self._on_message(message["data"])
            except asyncio.CancelledError:
                await client.aclose()
                raise
            except (RedisError, OSError) as exc:
                if self._listening:
                    log.warning("cache invalidation channel lost (%s); in-process pointers off until back", exc)
            self._listening = False
            self.subscribed.clear()
            self._drop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _on_message(self, data: bytes) -> None:
        CACHE_INVALIDATIONS.labels("received").inc()
        try:
            event = json.loads(data)
            self._drop(self._pointer.format(kind=event["kind"], ref=event["ref"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed invalidation message %r", data[:200])
            self._drop()

    async def close(self) -> None:
        """Stop listening and close the Redis connections."""
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.redis.close()
