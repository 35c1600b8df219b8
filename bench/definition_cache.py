"""Definition fetch latency per cache tier: in-process, Redis, HBase (latest pointer + version body).

Each tier is forced by configuration: the Redis tier runs with no in-process entries, the HBase tier
also with Redis out of reach (its breaker stays open). Baselines, measured in the same run: a plain Redis
GET for the in-process and Redis tiers, a plain HBase row read for the HBase tier (which reads two rows:
the latest pointer and the version).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

from drift.cache.definition_cache import CacheSettings, DefinitionCache
from drift.settings import hbase_settings, redis_url
from drift.storage.hbase import HBaseStore
from drift.stored_definition import StoredDefinition

from . import backends
from .report import Result, percentile
from .timing import sample_ms_async

SAMPLES = 2000
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


async def _measure(raw: backends.RoundTrips) -> list[Result]:
    store = HBaseStore(dataclasses.replace(hbase_settings(), table_prefix=f"bench{uuid.uuid4().hex[:6]}_"))
    await store.ensure_tables()
    spec = {"type": "http", "http": {"url": "http://orders/{{ input.orderId }}", "headers": {"Accept": "json"}}}
    definition = StoredDefinition.build("node", "support", "fetch-order", spec, None)
    writer = DefinitionCache(store, redis_url())
    await writer.publish(definition)

    tiers = {
        "memory": DefinitionCache(store, redis_url()),
        "redis": DefinitionCache(store, redis_url(), CacheSettings(memory_entries=0)),
        "hbase": DefinitionCache(
            store, UNREACHABLE_REDIS, CacheSettings(memory_entries=0, redis_retry_after_seconds=1e9)
        ),
    }
    results = []
    for tier, cache in tiers.items():
        if tier == "memory":
            await cache.start()
            await asyncio.wait_for(cache.subscribed.wait(), 10)
        samples = SAMPLES // 4 if tier == "hbase" else SAMPLES
        times = await sample_ms_async(lambda c=cache: c.get("node", "support", "fetch-order"), samples)
        floor, label = (
            (raw.hbase_row_get, "plain HBase row read") if tier == "hbase" else (raw.redis_get, "plain Redis GET")
        )
        for q in (50, 99):
            results.append(
                Result(f"definition_fetch_{tier}_p{q}", percentile(times, q), "ms", f"{label} p{q}", floor[q])
            )
        await cache.close()
    await writer.close()
    store.close()
    return results


def run() -> list[Result]:
    """p50/p99 of resolving the latest version of a definition through each tier, beside the raw round trips."""
    return asyncio.run(_measure(backends.measure()))
