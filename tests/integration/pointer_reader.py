"""A second reader process: follows one definition's latest pointer through its own cache.

Prints `READY <version>` once subscribed and warm, then `SEEN <version> <unix time> <memory hits>` on every
change it observes. Used by the cross-process invalidation test.
"""

from __future__ import annotations

import asyncio
import sys
import time

from prometheus_client import REGISTRY

from drift.cache.definition_cache import DefinitionCache
from drift.settings import cache_settings, hbase_settings, redis_url
from drift.storage.hbase import HBaseStore


def memory_hits() -> float:
    return (
        REGISTRY.get_sample_value("drift_cache_requests_total", {"tier": "memory", "kind": "node", "result": "hit"})
        or 0
    )


async def main(prefix: str, ref: str) -> None:
    store = HBaseStore(hbase_settings().__class__(**{**vars(hbase_settings()), "table_prefix": prefix}))
    cache = DefinitionCache(store, redis_url(), cache_settings())
    await cache.start()
    await asyncio.wait_for(cache.subscribed.wait(), 10)
    seen = await cache.latest("node", ref)
    await cache.latest("node", ref)  # now in memory
    print(f"READY {seen}", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        version = await cache.latest("node", ref)
        if version != seen:
            seen = version
            print(f"SEEN {version} {time.time():.4f} {memory_hits():.0f}", flush=True)
        await asyncio.sleep(0.005)
    await cache.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
