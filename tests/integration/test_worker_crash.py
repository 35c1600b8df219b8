"""A worker killed with SIGKILL mid-run: a new one finishes the run, nothing persisted is lost and no
completed HTTP call is made again."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest

from drift.cache.definition_cache import DefinitionCache
from drift.run_contract import RunSnapshot
from drift.settings import hbase_settings, redis_url, temporal_settings
from drift.temporal_client import connect
from tests.conftest import DriftProcess

from .worker_harness import Drift, private_store, snapshot_when, start_echo_server


@pytest.fixture
async def crash_setup(stack_env):
    store = private_store(hbase_settings())
    await store.ensure_tables()
    cache = DefinitionCache(store, redis_url())
    client = await connect(temporal_settings(stack_env))
    server, runner = await start_echo_server()
    drift = Drift(client, cache, store, f"crash-{uuid.uuid4()}")
    env = {"DRIFT_TASK_QUEUE": drift.task_queue, "DRIFT_TABLE_PREFIX": store.settings.table_prefix}
    yield drift, server, env
    await runner.cleanup()
    await cache.close()
    store.close()


async def _finished_by_a_new_worker(handle, env: dict[str, str], tmp_path) -> RunSnapshot:
    """Start a second worker on the run's task queue and return the run's result."""
    second = DriftProcess("drift_worker.main", {**os.environ, **env}, tmp_path / "second.log")
    try:
        await asyncio.to_thread(second.start)
        return await asyncio.wait_for(handle.result(), 60)
    finally:
        await asyncio.to_thread(second.stop)


async def test_a_killed_worker_loses_nothing_and_repeats_no_http_call(crash_setup, tmp_path):
    drift, server, env = crash_setup
    spec = {"startAt": "fetch", "nodes": [
        {"name": "fetch", "type": "http", "http": {"url": server.url + "/orders/9"}, "next": "pause"},
        {"name": "pause", "type": "wait", "wait": {"seconds": 4}, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "context.fetch.body.id"}},
    ]}  # fmt: skip
    first = DriftProcess("drift_worker.main", {**os.environ, **env}, tmp_path / "first.log")
    try:
        await asyncio.to_thread(first.start)  # the echo server shares this event loop
        handle = await drift.start(await drift.publish_workflow("crash", spec))
        for _ in range(300):  # the http call is done once its result is persisted
            stored = await drift.store.get_context(handle.id)
            if stored is not None and "fetch" in json.loads(stored):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the http node never completed")
        first.kill()
    finally:
        await asyncio.to_thread(first.stop)  # never left behind, whatever failed
    assert server.calls["order"] == 1

    result = await _finished_by_a_new_worker(handle, env, tmp_path)
    assert isinstance(result, RunSnapshot)
    assert (result.phase, result.output) == ("Succeeded", "9")
    assert server.calls["order"] == 1, "the completed http call must not run again"
    context = json.loads(await drift.store.get_context(handle.id))
    assert context["fetch"]["body"]["id"] == "9"


async def test_a_worker_killed_mid_fan_out_finishes_every_branch_once(crash_setup, tmp_path):
    drift, server, env = crash_setup
    branches = [{"name": f"b{i}", "startAt": f"fetch{i}"} for i in range(10)]
    nodes: list[dict] = [{"name": "fan", "type": "parallel", "parallel": {"branches": branches}, "next": "done"}]
    for i in range(10):
        nodes += [
            {"name": f"fetch{i}", "type": "http", "http": {"url": f"{server.url}/orders/{i}"}, "next": f"pause{i}"},
            {"name": f"pause{i}", "type": "wait", "wait": {"seconds": 4}, "next": f"ok{i}"},
            {"name": f"ok{i}", "type": "success", "success": {"output": f"context.fetch{i}.body.id"}},
        ]
    nodes.append({"name": "done", "type": "success", "success": {"output": "context.fan"}})
    first = DriftProcess("drift_worker.main", {**os.environ, **env}, tmp_path / "first.log")
    try:
        await asyncio.to_thread(first.start)
        handle = await drift.start(await drift.publish_workflow("fan-crash", {"startAt": "fan", "nodes": nodes}))
        # every branch is past its http node (its result is in history) once all ten wait
        await snapshot_when(handle, lambda s: sorted(a.node for a in s.active) == [f"pause{i}" for i in range(10)], 60)
        first.kill()
    finally:
        await asyncio.to_thread(first.stop)
    assert server.calls["order"] == 10

    result = await _finished_by_a_new_worker(handle, env, tmp_path)
    assert (result.phase, result.output) == ("Succeeded", {f"b{i}": str(i) for i in range(10)})
    assert server.calls["order"] == 10, "no branch's completed http call runs again"
