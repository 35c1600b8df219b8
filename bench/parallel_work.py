"""Parallel work: a 100-branch fan-out of no-op http calls against hand-written Temporal code doing the same
(`asyncio.gather` over activities); a 10,000-item map of two pure nodes against a hand-written batched map
(child workflows of 1,000 items), with the worker's peak memory and the largest snapshot while it runs.

Both sides run in this process, on one event loop, against one loopback HTTP server and one Temporal."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import time
import uuid

import httpx
from aiohttp import web
from kubernetes import client, config
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from drift.cache.definition_cache import DefinitionCache
from drift.run_contract import QUERY_SNAPSHOT, WORKFLOW_TYPE, RunSnapshot, RunStart, run_events_channel
from drift.settings import hbase_settings, redis_url, temporal_settings
from drift.storage.hbase import HBaseStore
from drift.stored_definition import StoredDefinition
from drift.temporal_client import connect
from drift_worker.activities import DriftActivities
from drift_worker.egress import EgressPolicy
from drift_worker.main import new_worker
from drift_worker.run_event_publisher import RunEventPublisher

from .baseline_workflows import BatchedMap, FanOut, ItemBatch
from .kube_objects import GROUP, VERSION, resource
from .processes import rss_mib, stack_pids
from .report import Result

BRANCHES = 100
ITEMS = 10_000
RUNS = 5
STATUS_LIMIT_BYTES = 16 * 1024
"""The issue's bound on a run's status at every moment."""


def fanout_spec(url: str) -> dict:
    """One parallel node of BRANCHES branches, each one http GET and a success node."""
    branches = [{"name": f"b{i}", "startAt": f"call{i}"} for i in range(BRANCHES)]
    nodes: list[dict] = [{"name": "fan", "type": "parallel", "parallel": {"branches": branches}, "next": "done"}]
    for i in range(BRANCHES):
        nodes += [{"name": f"call{i}", "type": "http", "http": {"url": url}, "next": f"ok{i}"},
                  {"name": f"ok{i}", "type": "success", "success": {"output": "1"}}]  # fmt: skip
    nodes.append({"name": "done", "type": "success"})
    return {"startAt": "fan", "nodes": nodes}


def map_spec() -> dict:
    """A map over `input.items` whose item scope is two processor nodes (pure), as the baseline computes."""
    return {"startAt": "each", "nodes": [
        {"name": "each", "type": "map", "next": "done",
         "map": {"items": "input.items", "startAt": "double", "maxConcurrency": 100}},
        {"name": "double", "type": "processor", "processor": {"set": {"twice": "item * 2"}}, "next": "add"},
        {"name": "add", "type": "processor", "processor": {"set": {"sum": "context.twice + index"}}, "next": "out"},
        {"name": "out", "type": "success", "success": {"output": "context.sum"}},
        {"name": "done", "type": "success", "success": {"output": "size(context.each)"}},
    ]}  # fmt: skip


class HttpGet:
    """The baseline's activity: the same GET as the http node, on one shared client."""

    def __init__(self) -> None:
        self.client = httpx.AsyncClient()

    @activity.defn(name="bench.http_get")
    async def get(self, url: str) -> int:
        return (await self.client.get(url)).status_code // 200


async def _median_seconds(run_once) -> float:
    await run_once()  # warm-up
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        await run_once()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


async def _loopback() -> tuple[web.AppRunner, str]:
    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/ok", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/ok"


async def _start(client: Client, queue: str, workflow: StoredDefinition, run_input: dict | None = None):
    run = str(uuid.uuid4())
    start = RunStart(namespace="bench", run_name=run[:8], run_uid=run, workflow_name=workflow.name,
                     workflow_version=workflow.version, input=run_input or {})  # fmt: skip
    return await client.start_workflow(WORKFLOW_TYPE, start, id=f"bench/{run}", task_queue=queue,
                                       result_type=RunSnapshot)  # fmt: skip


async def _finished(client: Client, queue: str, workflow: StoredDefinition) -> RunSnapshot:
    return await (await _start(client, queue, workflow)).result()


async def _largest_snapshot(handle, done: asyncio.Event) -> int:
    largest = 0
    while not done.is_set():
        snapshot = await handle.query(QUERY_SNAPSHOT, result_type=RunSnapshot)
        largest = max(largest, len(snapshot.model_dump_json()))
        await asyncio.sleep(0.2)
    return largest


async def _measure() -> list[Result]:
    client = await connect(temporal_settings(os.environ))
    store = HBaseStore(dataclasses.replace(hbase_settings(), table_prefix=f"bench{uuid.uuid4().hex[:6]}_"))
    await store.ensure_tables()
    cache = DefinitionCache(store, redis_url())
    await cache.start()
    runner, url = await _loopback()
    fanout = StoredDefinition.build("workflow", "bench", "fanout", fanout_spec(url), {})
    mapped = StoredDefinition.build("workflow", "bench", "map", map_spec(), {})
    for definition in (fanout, mapped):
        await cache.publish(definition)
    events = RunEventPublisher(redis_url(), run_events_channel(store.settings.table_prefix))
    activities = DriftActivities(cache, store, events, None, EgressPolicy())
    getter = HttpGet()
    queue = f"bench-{uuid.uuid4()}"
    items = list(range(ITEMS))
    figures: dict[str, float] = {}
    async with Worker(client, task_queue=queue, workflows=[FanOut, BatchedMap, ItemBatch], activities=[getter.get],
                      max_concurrent_activities=200):  # fmt: skip
        figures["gather"] = await _median_seconds(
            lambda: client.execute_workflow(
                FanOut.run, args=[url, BRANCHES], id=f"bench-{uuid.uuid4()}", task_queue=queue
            )
        )
        began = time.perf_counter()
        await client.execute_workflow(BatchedMap.run, items, id=f"bench-{uuid.uuid4()}", task_queue=queue)
        figures["baseline_items"] = ITEMS / (time.perf_counter() - began)
    async with new_worker(client, queue, activities):
        figures["fanout"] = await _median_seconds(lambda: _finished(client, queue, fanout))
        figures["rss_before"] = rss_mib()
        began = time.perf_counter()
        handle = await _start(client, queue, mapped, {"items": items})
        finished = asyncio.Event()
        largest = asyncio.create_task(_largest_snapshot(handle, finished))
        peak = figures["rss_before"]
        result = asyncio.create_task(handle.result())
        while not result.done():
            peak = max(peak, rss_mib())
            await asyncio.wait({result}, timeout=0.5)
        assert (await result).output == ITEMS
        figures["items"] = ITEMS / (time.perf_counter() - began)
        finished.set()
        figures["status_bytes"] = await largest
        figures["rss_peak"] = peak
    await getter.client.aclose()
    await runner.cleanup()
    await activities.close()
    await cache.close()
    store.close()
    return [
        Result("fanout_100_http", figures["fanout"] * 1000, "ms", "hand-written asyncio.gather of 100 activities",
               figures["gather"] * 1000),
        Result("map_10000_items", figures["items"], "items/s", "hand-written batched map (child workflows)",
               figures["baseline_items"]),
        Result("map_10000_status_bytes_max", figures["status_bytes"], "bytes", "the 16 KiB bound",
               STATUS_LIMIT_BYTES),
        Result("map_10000_worker_rss_peak", figures["rss_peak"], "MiB", "the same worker before the map",
               figures["rss_before"]),
    ]  # fmt: skip


def _stack_map_rss() -> list[Result]:
    """The stack's operator and worker during a 10,000-item map applied with kubectl: peak RSS of each against
    its own RSS just before."""
    config.load_kube_config()
    api = client.CustomObjectsApi()
    pids = stack_pids("drift-operator", "drift-worker")
    namespace = "bench-map"
    subprocess.run(["kubectl", "create", "namespace", namespace], capture_output=True, check=False)
    spec = {"startAt": "each", "nodes": map_spec()["nodes"]}
    manifests = [resource("Workflow", "map", namespace, spec),
                 resource("WorkflowRun", f"map-{uuid.uuid4().hex[:6]}", namespace,
                          {"workflowRef": {"name": "map"}, "input": {"items": list(range(ITEMS))}})]  # fmt: skip
    before = {name: rss_mib(pid) for name, pid in pids.items()}
    peak = dict(before)
    subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps({"apiVersion": "v1", "kind": "List",
                   "items": manifests}), text=True, capture_output=True, check=True)  # fmt: skip
    name = manifests[1]["metadata"]["name"]
    deadline = time.monotonic() + 900
    while True:
        run = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "workflowruns", name)
        peak = {key: max(peak[key], rss_mib(pids[key])) for key in pids}
        if (run.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("benchmark: the 10,000-item map did not finish in 15 min")
        time.sleep(0.5)
    return [
        Result("map_10000_operator_rss_peak", peak["drift-operator"], "MiB", "the operator just before the map",
               before["drift-operator"]),
        Result("map_10000_stack_worker_rss_peak", peak["drift-worker"], "MiB", "the worker just before the map",
               before["drift-worker"]),
    ]  # fmt: skip


def run() -> list[Result]:
    """Fan-out and map, Drift against hand-written Temporal code; the operator's and worker's memory."""
    return asyncio.run(_measure()) + _stack_map_rss()
