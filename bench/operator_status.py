"""The operator under load, with the real worker (both started by `make bench` as on `make dev-up`).

- definitions synced per second when 500 Workflows are applied at once (baseline: the rate at which the
  API server accepted them, same run; higher is better);
- WorkflowRun create -> Running latency (baseline: a bare Temporal start_workflow round trip);
- node transition -> status latency p50/p95 with 200 runs in flight: the time from the worker's snapshot on
  the Redis channel to the status change seen by a watch (baseline: the floor of any status reflection, one
  API server write seen by a watch, same run);
- operator CPU and RSS while 500 runs wait for input (baselines: the same operator with no runs, measured
  first).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import threading
import time
import uuid

import redis
from kubernetes import client, config, watch

from drift.run_contract import RunEvent, run_events_channel
from drift.settings import temporal_settings
from drift.temporal_client import connect

from . import run_path
from .kube_objects import GROUP, VERSION, kubectl, resource, workflow, write_to_watch_latency
from .processes import cpu_seconds, rss_mib, stack_pids
from .report import Result, percentile

DEFINITIONS = 500
IN_FLIGHT = 200
IDLE = 500


def new_namespace() -> str:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    return name


def apply_list(items: list[dict]) -> float:
    """Seconds `kubectl apply` took for `items` (one List)."""
    began = time.monotonic()
    kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return time.monotonic() - began


def _list(api: client.CustomObjectsApi, namespace: str, plural: str) -> list[dict]:
    return api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]


def _run(name: str, namespace: str, workflow_name: str) -> dict:
    return resource("WorkflowRun", name, namespace, {"workflowRef": {"name": workflow_name}})


def wait_until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: {what} not reached in {timeout:.0f}s")
        time.sleep(0.25)


def definitions_synced(api: client.CustomObjectsApi) -> list[Result]:
    namespace = new_namespace()
    items = [
        workflow(f"wf-{i}", namespace, [
            {"name": "start", "type": "processor", "processor": {"set": {"i": str(i)}}, "next": "done"},
            {"name": "done", "type": "success"},
        ]) for i in range(DEFINITIONS)
    ]  # fmt: skip
    began = time.monotonic()
    applied = apply_list(items)

    def synced() -> bool:
        return (
            sum(1 for w in _list(api, namespace, "workflows") if (w.get("status") or {}).get("version")) == DEFINITIONS
        )

    wait_until(synced, 600, "500 Workflows synced")
    rate = DEFINITIONS / (time.monotonic() - began)
    return [
        Result(
            "definitions_synced_500", rate, "defs/s", "API server accepting them (kubectl apply)", DEFINITIONS / applied
        )
    ]


def run_start_latency(api: client.CustomObjectsApi, namespace: str) -> list[Result]:
    """create -> Running (or later) for runs created one at a time, beside a bare Temporal start."""
    samples = []
    for i in range(15):
        name = f"start-{i}"
        began = time.monotonic()
        kubectl("create", "-f", "-", stdin=json.dumps(_run(name, namespace, "waiter")))

        def started(name: str = name) -> bool:
            obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "workflowruns", name)
            return (obj.get("status") or {}).get("phase") in ("Running", "Waiting", "Succeeded")

        deadline = time.monotonic() + 30
        while not started() and time.monotonic() < deadline:
            time.sleep(0.02)
        samples.append((time.monotonic() - began) * 1000)

    async def bare_starts() -> list[float]:
        temporal = await connect(temporal_settings(os.environ))
        times = []
        for _ in range(15):
            began = time.monotonic()
            await temporal.start_workflow("BenchNoop", id=f"bench-{uuid.uuid4()}", task_queue=f"nobody-{uuid.uuid4()}")
            times.append((time.monotonic() - began) * 1000)
        return times

    baseline = statistics.median(asyncio.run(bare_starts()))
    return [
        Result("run_create_to_running_p50", statistics.median(samples), "ms", "bare Temporal start_workflow", baseline)
    ]


def status_latency(api: client.CustomObjectsApi, namespace: str) -> list[Result]:
    """200 runs stepping through wait nodes; snapshot on Redis -> status change seen by a watch."""
    published: dict[tuple[str, int], float] = {}
    shown: dict[tuple[str, int], float] = {}
    stop = threading.Event()
    prefix = os.environ.get("DRIFT_TABLE_PREFIX", "drift_")

    def listen() -> None:
        bus = redis.Redis.from_url(os.environ["DRIFT_REDIS_URL"]).pubsub()
        bus.subscribe(run_events_channel(prefix))
        while not stop.is_set():
            message = bus.get_message(timeout=0.2)
            if message and message["type"] == "message":
                event = RunEvent.model_validate_json(message["data"])
                name = event.workflow_id.split("/")[1]
                published.setdefault((name, event.snapshot.nodes_completed), time.monotonic())

    def observe(resource_version: str) -> None:
        stream = watch.Watch().stream(api.list_namespaced_custom_object, GROUP, VERSION, namespace, "workflowruns",
                                      resource_version=resource_version, timeout_seconds=300)  # fmt: skip
        for event in stream:
            status = event["object"].get("status") or {}
            key = (event["object"]["metadata"]["name"], status.get("nodesCompleted", 0))
            shown.setdefault(key, time.monotonic())
            if stop.is_set():
                return

    resource_version = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "workflowruns")["metadata"][
        "resourceVersion"
    ]
    threads = [
        threading.Thread(target=listen, daemon=True),
        threading.Thread(target=observe, args=(resource_version,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)
    apply_list([_run(f"step-{i}", namespace, "stepper") for i in range(IN_FLIGHT)])

    def finished() -> bool:
        return sum(1 for r in _list(api, namespace, "workflowruns") if r["metadata"]["name"].startswith("step-")
                   and (r.get("status") or {}).get("phase") == "Succeeded") == IN_FLIGHT  # fmt: skip

    wait_until(finished, 600, "200 stepping runs finished")
    time.sleep(2)
    stop.set()
    latencies = [(shown[key] - at) * 1000 for key, at in published.items() if key in shown and shown[key] >= at]
    floor = write_to_watch_latency(namespace)
    return [
        Result(
            f"status_latency_200_runs_p{q}", percentile(latencies, q), "ms", f"API write seen by a watch p{q}", floor[q]
        )
        for q in (50, 95)
    ]


def usage(pid: int, seconds: float) -> tuple[float, float]:
    """(CPU percent of one core over `seconds`, RSS in MiB) of a process."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / seconds, rss_mib(pid)


def idle_cost(api: client.CustomObjectsApi, pid: int, namespace: str, empty: tuple[float, float]) -> list[Result]:
    apply_list([_run(f"idle-{i}", namespace, "waiter") for i in range(IDLE)])

    def waiting() -> bool:
        return sum(1 for r in _list(api, namespace, "workflowruns") if r["metadata"]["name"].startswith("idle-")
                   and (r.get("status") or {}).get("phase") == "Waiting") == IDLE  # fmt: skip

    wait_until(waiting, 900, "500 runs waiting")
    time.sleep(5)
    cpu, rss = usage(pid, 30)
    return [
        Result("operator_cpu_500_waiting", cpu, "% core", "operator with no runs", empty[0]),
        Result("operator_rss_500_waiting", rss, "MiB", "operator with no runs", empty[1]),
    ]


def run() -> list[Result]:
    """The operator's figures of issue 4 (see the module docstring)."""
    config.load_kube_config()
    api = client.CustomObjectsApi()
    pid = stack_pids("drift-operator")["drift-operator"]
    empty = usage(pid, 15)
    namespace = new_namespace()
    apply_list([
        workflow("waiter", namespace, [
            {"name": "ask", "type": "instruction", "instruction": {"message": "go?"}, "next": "done"},
            {"name": "done", "type": "success"},
        ]),
        workflow("stepper", namespace, [
            *({"name": f"s{i}", "type": "wait", "wait": {"seconds": 1}, "next": f"s{i + 1}"} for i in range(5)),
            {"name": "s5", "type": "success"},
        ]),
    ])  # fmt: skip
    wait_until(lambda: all((w.get("status") or {}).get("version") for w in _list(api, namespace, "workflows")), 60,
                "bench workflows synced")  # fmt: skip
    results = run_start_latency(api, namespace)
    results += run_path.run(api, namespace)
    results += status_latency(api, namespace)
    results += idle_cost(api, pid, namespace, empty)
    results += definitions_synced(api)
    return results
