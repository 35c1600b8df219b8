"""Fixtures of the integration tests: an in-process worker on the real stack, a loopback HTTP server."""

from __future__ import annotations

import uuid

import pytest

from drift.cache.definition_cache import DefinitionCache
from drift.settings import hbase_settings, redis_url, temporal_settings
from drift.temporal_client import connect
from drift_worker.activities import DriftActivities
from drift_worker.egress import EgressPolicy
from drift_worker.main import kubernetes_core, new_worker

from .worker_harness import Drift, private_store, publisher, start_echo_server


@pytest.fixture(scope="module")
async def drift(stack_env):
    store = private_store(hbase_settings())
    await store.ensure_tables()
    cache = DefinitionCache(store, redis_url())
    await cache.start()
    client = await connect(temporal_settings(stack_env))
    activities = DriftActivities(cache, store, publisher(store), kubernetes_core(), EgressPolicy(),
                                 kafka_bootstrap=stack_env["DRIFT_KAFKA_BOOTSTRAP"])  # fmt: skip
    task_queue = f"worker-test-{uuid.uuid4()}"
    async with new_worker(client, task_queue, activities):
        yield Drift(client, cache, store, task_queue)
    await activities.close()
    await cache.close()
    store.close()


@pytest.fixture
async def server():
    server, runner = await start_echo_server()
    yield server
    await runner.cleanup()
