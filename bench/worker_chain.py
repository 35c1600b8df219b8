"""A 10-node chain through Drift (context persisted to HBase after each node) beside hand-written Temporal
workflows of 10 remote and 10 local no-op activities, on the same Temporal server in the same run; then
nodes per second with 100 runs at once, and the p99 and longest workflow task while they run (Temporal's own
`workflow_task_execution_latency`: from the task's poll to its completion, local activities included)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.worker import Worker

from drift.cache.definition_cache import DefinitionCache
from drift.run_contract import WORKFLOW_TYPE, RunStart, run_events_channel
from drift.settings import hbase_settings, redis_url, temporal_settings
from drift.storage.hbase import HBaseStore
from drift.stored_definition import StoredDefinition
from drift.temporal_client import connect
from drift_worker.activities import DriftActivities
from drift_worker.egress import EgressPolicy
from drift_worker.main import new_worker
from drift_worker.run_event_publisher import RunEventPublisher

from .baseline_workflows import CHAIN_LENGTH, LocalChain, RemoteChain, noop
from .report import Result, percentile

SEQUENTIAL_RUNS = 20
CONCURRENT_RUNS = 100
TASK_LATENCY = "workflow_task_execution_latency"


def chain_spec() -> dict:
    """Ten no-op processor nodes, then success (which is not counted: the baselines have no final step)."""
    nodes = [
        {"name": f"n{i}", "type": "processor", "processor": {"set": {"last": f"{i}"}}, "next": f"n{i + 1}"}
        for i in range(CHAIN_LENGTH)
    ]
    nodes.append({"name": f"n{CHAIN_LENGTH}", "type": "success"})
    return {"startAt": "n0", "nodes": nodes}


async def _latency_ms(start_one) -> float:
    """Median milliseconds from start to result over sequential runs (after two warm-up runs)."""
    for _ in range(2):
        await start_one()
    times = []
    for _ in range(SEQUENTIAL_RUNS):
        began = time.perf_counter()
        await start_one()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def _throughput(start_one, metrics: MetricBuffer) -> tuple[float, float, float]:
    """(chain nodes per second, p99 and longest workflow task ms) with CONCURRENT_RUNS runs started at once."""
    metrics.retrieve_updates()
    began = time.perf_counter()
    await asyncio.gather(*(start_one() for _ in range(CONCURRENT_RUNS)))
    rate = CONCURRENT_RUNS * CHAIN_LENGTH / (time.perf_counter() - began)
    tasks = [u.value for u in metrics.retrieve_updates() if u.metric.name.endswith(TASK_LATENCY)]
    return rate, percentile([float(ms) for ms in tasks], 99), float(max(tasks))


def _plain_worker(client: Client, queue: str) -> Worker:
    """A worker of the hand-written baseline workflows."""
    return Worker(client, task_queue=queue, workflows=[RemoteChain, LocalChain], activities=[noop],
                  max_concurrent_activities=200, max_concurrent_local_activities=200)  # fmt: skip


def _starter(client: Client, kind: type, queue: str) -> Callable[[], Awaitable[object]]:
    async def run() -> object:
        return await client.execute_workflow(kind.run, id=f"bench-{uuid.uuid4()}", task_queue=queue)

    return run


def remote_chain_ms() -> float:
    """The hand-written 10-remote-activity chain alone, median ms (a baseline other benchmarks measure again)."""

    async def measure() -> float:
        client = await connect(temporal_settings(os.environ))
        queue = f"bench-{uuid.uuid4()}"
        async with _plain_worker(client, queue):
            return await _latency_ms(_starter(client, RemoteChain, queue))

    return asyncio.run(measure())


async def _measure() -> list[Result]:
    metrics = MetricBuffer(1_000_000)
    client = await connect(temporal_settings(os.environ), Runtime(telemetry=TelemetryConfig(metrics=metrics)))
    store = HBaseStore(dataclasses.replace(hbase_settings(), table_prefix=f"bench{uuid.uuid4().hex[:6]}_"))
    await store.ensure_tables()
    cache = DefinitionCache(store, redis_url())
    await cache.start()
    workflow = StoredDefinition.build("workflow", "bench", "chain", chain_spec(), {})
    await cache.publish(workflow)
    events = RunEventPublisher(redis_url(), run_events_channel(store.settings.table_prefix))
    activities = DriftActivities(cache, store, events, None, EgressPolicy())
    queue = f"bench-{uuid.uuid4()}"

    async def drift_run() -> None:
        run = str(uuid.uuid4())
        start = RunStart(namespace="bench", run_name=run[:8], run_uid=run, workflow_name="chain",
                         workflow_version=workflow.version)  # fmt: skip
        await client.execute_workflow(WORKFLOW_TYPE, start, id=f"bench/{run}", task_queue=queue)

    remote, local = _starter(client, RemoteChain, queue), _starter(client, LocalChain, queue)
    figures = {}
    async with _plain_worker(client, queue):
        figures["remote"] = await _latency_ms(remote)
        figures["local"] = await _latency_ms(local)
        figures["remote_tput"], figures["remote_task"], figures["remote_task_max"] = await _throughput(remote, metrics)
    async with new_worker(client, queue, activities):
        figures["drift"] = await _latency_ms(drift_run)
        figures["drift_tput"], figures["drift_task"], figures["drift_task_max"] = await _throughput(drift_run, metrics)
    await activities.close()
    await cache.close()
    store.close()
    remote_label = "hand-written 10 remote activities"
    return [
        Result("chain10_remote_activities", figures["remote"], "ms", "itself", figures["remote"]),
        Result("chain10_local_activities", figures["local"], "ms", remote_label, figures["remote"]),
        Result("chain10_drift_persisted", figures["drift"], "ms", remote_label, figures["remote"]),
        Result("chain10_drift_vs_local", figures["drift"], "ms", "hand-written 10 local activities", figures["local"]),
        Result("throughput_100_runs_remote", figures["remote_tput"], "nodes/s", "itself", figures["remote_tput"]),
        Result("throughput_100_runs_drift", figures["drift_tput"], "nodes/s", "remote activities, 100 runs",
               figures["remote_tput"]),
        Result("workflow_task_p99_100_runs_drift", figures["drift_task"], "ms",
               "hand-written remote chain, 100 runs: p99", figures["remote_task"]),
        Result("workflow_task_max_100_runs_drift", figures["drift_task_max"], "ms",
               "hand-written remote chain, 100 runs: longest", figures["remote_task_max"]),
    ]  # fmt: skip


def run() -> list[Result]:
    """Chain latency and throughput, Drift against hand-written Temporal workflows."""
    return asyncio.run(_measure())
