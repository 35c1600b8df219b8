"""Definition storage and the three-tier cache against the real HBase and Redis of the stack."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from drift.cache.definition_cache import DefinitionCache
from drift.errors import BackendUnavailable, VersionConflict
from drift.settings import cache_settings, hbase_settings, redis_url
from drift.storage.hbase import HBaseStore
from drift.stored_definition import StoredDefinition
from tests.conftest import REPO_ROOT, stack_command

SPEC = {"type": "script", "script": {"expression": "1 + 1"}}


def _hits(tier: str, result: str = "hit") -> float:
    labels = {"tier": tier, "kind": "node", "result": result}
    return REGISTRY.get_sample_value("drift_cache_requests_total", labels) or 0.0


@pytest.fixture(scope="module")
def prefix(stack_env) -> str:
    return f"t{uuid.uuid4().hex[:6]}_"


@pytest.fixture
async def store(prefix):
    store = HBaseStore(dataclasses.replace(hbase_settings(), table_prefix=prefix))
    await store.ensure_tables()
    yield store
    store.close()


@pytest.fixture
async def cache(store):
    cache = DefinitionCache(store, redis_url(), cache_settings())
    await cache.start()
    await asyncio.wait_for(cache.subscribed.wait(), 10)
    yield cache
    await cache.close()


def _node(name: str, expression: str = "1 + 1") -> StoredDefinition:
    return StoredDefinition.build("node", "support", name, {**SPEC, "script": {"expression": expression}}, None)


async def test_tables_are_created_idempotently_even_concurrently(prefix, store):
    twins = [HBaseStore(dataclasses.replace(hbase_settings(), table_prefix=prefix)) for _ in range(2)]
    await asyncio.gather(*(twin.ensure_tables() for twin in twins), store.ensure_tables())
    for twin in twins:
        twin.close()


async def test_processes_starting_together_on_a_fresh_hbase_all_get_the_tables(stack_env):
    """An operator and two workers installed together race to create the tables: none may fail."""
    fresh = f"t{uuid.uuid4().hex[:6]}_"
    racers = [HBaseStore(dataclasses.replace(hbase_settings(), table_prefix=fresh)) for _ in range(3)]
    try:
        await asyncio.gather(*(racer.ensure_tables() for racer in racers))
    finally:
        for racer in racers:
            racer.close()


async def test_versions_are_write_once(store):
    node = _node(f"n-{uuid.uuid4().hex[:6]}")
    assert await store.put_version("node", node.key, node.body()) is True
    assert await store.put_version("node", node.key, node.body()) is False
    with pytest.raises(VersionConflict, match="already holds a different body"):
        await store.put_version("node", node.key, node.body().replace(b"1 + 1", b"2 + 2"))
    assert await store.get_version("node", node.key) == node.body()


async def test_identical_specs_give_identical_versions_and_rows():
    assert _node("a").version == _node("a").version
    assert _node("a").version != _node("a", "2 + 2").version
    workflow = StoredDefinition.build("workflow", "support", "w", {"startAt": "a"}, {"a": "111111111111"})
    assert (
        workflow.version
        != StoredDefinition.build("workflow", "support", "w", {"startAt": "a"}, {"a": "2" * 12}).version
    )


async def test_publish_is_idempotent_and_reads_go_memory_redis_hbase(store, cache):
    node = _node(f"n-{uuid.uuid4().hex[:6]}")
    assert await cache.publish(node) is True
    assert await cache.publish(node) is False

    fresh = DefinitionCache(store, redis_url(), cache_settings())
    before = {tier: _hits(tier) for tier in ("memory", "redis", "hbase")}
    assert await fresh.get("node", "support", node.name) == node  # pointer and version from Redis
    assert _hits("redis") - before["redis"] == 2
    assert await fresh.get("node", "support", node.name, node.version) == node
    assert _hits("memory") - before["memory"] == 1
    await fresh.close()

    other = _node(f"n-{uuid.uuid4().hex[:6]}")
    await store.put_version("node", other.key, other.body())  # in HBase only: not yet in Redis
    before_hbase = _hits("hbase")
    assert await cache.version("node", other.key) == other
    assert _hits("hbase") - before_hbase == 1
    assert await cache.get("node", "support", "no-such-node") is None


async def test_a_burst_beyond_the_redis_pool_waits_for_connections_instead_of_failing(store):
    """The operator's start re-announces every definition at once: far more calls than pooled connections."""
    narrow = DefinitionCache(store, redis_url(), dataclasses.replace(cache_settings(), redis_connections=4))
    names = [f"burst-{uuid.uuid4().hex[:6]}-{i}" for i in range(200)]
    await asyncio.gather(*(narrow.announce("node", f"support/{name}", "v1") for name in names))
    assert narrow.redis.available
    pointers = await asyncio.gather(
        *(narrow.redis.get(f"{store.settings.table_prefix}latest:node:support/{name}") for name in names)
    )
    assert pointers == [(b"v1", True)] * len(names)
    await narrow.close()


async def test_contexts_keep_the_highest_sequence(store):
    execution = f"support/run-{uuid.uuid4().hex[:6]}/uid"
    await store.put_context(execution, b'{"n": 2}', sequence=2)
    await store.put_context(execution, b'{"n": 1}', sequence=1)  # a late retry of an older persist
    await store.put_context(execution, b'{"n": 2}', sequence=2)  # a retried persist of the same node
    assert await store.get_context(execution) == b'{"n": 2}'
    await store.put_context(execution, b'{"n": 3}', sequence=3)
    assert await store.get_context(execution) == b'{"n": 3}'


async def test_a_runs_last_context_records_its_end_in_the_same_write(store):
    running, ended = (f"support/run-{uuid.uuid4().hex[:6]}/uid" for _ in range(2))
    finished_at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    await store.put_context(running, b'{"n": 1}', sequence=1)
    await store.put_context(ended, b'{"n": 2}', sequence=2, finished_at=finished_at)
    assert await store.get_context(ended) == b'{"n": 2}'
    finished = dict(await store.finished_contexts())
    assert (finished.get(ended), running in finished) == (finished_at, False)


async def test_a_withdrawn_pointer_is_gone_everywhere_and_no_reader_puts_it_back(store, cache):
    node = _node(f"n-{uuid.uuid4().hex[:6]}")
    await cache.publish(node)
    other = DefinitionCache(store, redis_url(), cache_settings())  # another process, serving from memory
    await other.start()
    await asyncio.wait_for(other.subscribed.wait(), 10)
    try:
        assert await other.get("node", "support", node.name) == node
        stale = await store.get_latest("node", node.ref)  # a reader that read HBase just before the delete...
        await cache.withdraw("node", node.ref)
        pointer_key = f"{store.settings.table_prefix}latest:node:{node.ref}"
        await cache.redis.fill(pointer_key, stale.encode(), 300, only_if_absent=True)  # ...cannot put it back
        assert await store.get_latest("node", node.ref) is None
        assert await cache.get("node", "support", node.name) is None
        deadline = time.monotonic() + 2
        while await other.get("node", "support", node.name) is not None:
            assert time.monotonic() < deadline, "the other reader kept its in-process pointer"
            await asyncio.sleep(0.05)
        assert await cache.get("node", "support", node.name, node.version) == node, "versions stay (pinned runs)"
        await cache.publish(node)  # applied again
        assert await other.get("node", "support", node.name) == node
    finally:
        await other.close()


async def test_a_pointer_update_reaches_another_process_within_a_second(prefix, cache):
    name = f"n-{uuid.uuid4().hex[:6]}"
    first, second = _node(name), _node(name, "2 + 2")
    await cache.publish(first)
    script = REPO_ROOT / "tests" / "integration" / "pointer_reader.py"
    reader = await asyncio.create_subprocess_exec(
        sys.executable, str(script), prefix, f"support/{name}", stdout=asyncio.subprocess.PIPE, cwd=REPO_ROOT
    )
    try:
        ready = await asyncio.wait_for(reader.stdout.readline(), 20)
        assert ready.decode().split() == ["READY", first.version]
        await asyncio.sleep(0.3)  # the reader now serves the pointer from memory
        published_at = time.time()
        await cache.publish(second)
        line = await asyncio.wait_for(reader.stdout.readline(), 5)
        seen, version, at, memory_hits = line.decode().split()
        assert (seen, version) == ("SEEN", second.version)
        assert float(at) - published_at < 1.0
        assert float(memory_hits) > 10, "the reader should have been serving from its in-process tier"
    finally:
        reader.kill()
        await reader.wait()


async def test_reads_survive_a_redis_outage_and_caching_resumes(stack_env, store, cache):
    node = _node(f"n-{uuid.uuid4().hex[:6]}")
    await cache.publish(node)
    stack_command(stack_env, "down", "redis")
    try:
        cold = DefinitionCache(store, redis_url(), cache_settings())  # nothing in memory: must reach HBase
        before = _hits("hbase")
        for _ in range(20):
            assert await cold.get("node", "support", node.name) == node
            assert await cache.get("node", "support", node.name) == node
        assert _hits("hbase") - before >= 20, "pointers must come from HBase while Redis is down"
        with pytest.raises(BackendUnavailable, match="Redis unavailable"):
            await cache.publish(_node(node.name, "3 + 3"))
        await cold.close()
    finally:
        stack_command(stack_env, "up", "redis")

    await asyncio.wait_for(cache.subscribed.wait(), 15)
    newer = _node(node.name, "4 + 4")
    await asyncio.sleep(cache.settings.redis_retry_after_seconds)
    await cache.publish(newer)
    before = _hits("redis")
    fresh = DefinitionCache(store, redis_url(), cache_settings())
    assert await fresh.get("node", "support", node.name) == newer
    assert _hits("redis") - before == 2, "caching in Redis resumes once it is back"
    await fresh.close()
