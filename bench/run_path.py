"""The run path as a user sees it through the API server (issue 13's goals 1-3), each beside a baseline of the
same run:

1. a 10-node processor chain, WorkflowRun created -> `Succeeded` seen by a watch (baseline: ten hand-written
   remote activities on the same Temporal);
2. 200 runs created back to back -> each `Waiting` (p95 of create -> Waiting seen; baseline: one API write seen
   by a watch), and the rate they start at against the rate the API server accepted them;
3. with those 200 runs in flight, a resume patch -> `Succeeded` seen (p50/p95; baseline: the write floor).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from kubernetes import client, watch

from .kube_objects import GROUP, VERSION, resource, workflow, write_to_watch_latency
from .report import Result, percentile
from .worker_chain import remote_chain_ms

PLURAL = "workflowruns"
CHAIN_SAMPLES = 15
BACK_TO_BACK = 200


class PhaseWatch:
    """One watch on the namespace's WorkflowRuns: when each (run, phase) was first seen."""

    def __init__(self, api: client.CustomObjectsApi, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.seen: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        self._thread = threading.Thread(target=self._follow, args=(listed["metadata"]["resourceVersion"],), daemon=True)
        self._thread.start()

    def _follow(self, resource_version: str) -> None:
        while not self._stop.is_set():
            stream = watch.Watch().stream(self.api.list_namespaced_custom_object, GROUP, VERSION, self.namespace,
                                          PLURAL, resource_version=resource_version, timeout_seconds=60)  # fmt: skip
            for event in stream:
                obj = event["object"]
                resource_version = obj["metadata"]["resourceVersion"]
                phase = (obj.get("status") or {}).get("phase") or "New"
                self.seen.setdefault((obj["metadata"]["name"], phase), time.monotonic())
                if self._stop.is_set():
                    return

    def wait(self, names: Iterable[str], phase: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        missing = [name for name in names if (name, phase) not in self.seen]
        while missing:
            if time.monotonic() > deadline:
                raise TimeoutError(f"benchmark: {len(missing)} runs not {phase} in {timeout:.0f}s")
            time.sleep(0.005)
            missing = [name for name in missing if (name, phase) not in self.seen]

    def stop(self) -> None:
        self._stop.set()


def _create(api: client.CustomObjectsApi, namespace: str, name: str, workflow: str) -> float:
    """Create a WorkflowRun; the monotonic time just before the request."""
    began = time.monotonic()
    body = resource("WorkflowRun", name, namespace, {"workflowRef": {"name": workflow}})
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    return began


def chain_workflow(namespace: str) -> dict:
    nodes = [
        {"name": f"n{i}", "type": "processor", "processor": {"set": {"last": f"{i}"}}, "next": f"n{i + 1}"}
        for i in range(10)
    ]
    return workflow("chain10", namespace, [*nodes, {"name": "n10", "type": "success"}])


def chain_apply_to_succeeded(api: client.CustomObjectsApi, runs: PhaseWatch, namespace: str) -> list[Result]:
    """Goal 1: runs of the 10-node chain one at a time, create -> Succeeded seen (median)."""
    samples = []
    for i in range(CHAIN_SAMPLES + 2):
        name = f"chain-{i}"
        began = _create(api, namespace, name, "chain10")
        runs.wait([name], "Succeeded", 60)
        if i >= 2:  # two warm-up runs
            samples.append((runs.seen[name, "Succeeded"] - began) * 1000)
    baseline = remote_chain_ms()
    return [
        Result("run_chain10_create_to_succeeded_p50", percentile(samples, 50), "ms",
               "hand-written 10 remote activities", baseline),
    ]  # fmt: skip


def back_to_back_then_resume(
    api: client.CustomObjectsApi, runs: PhaseWatch, namespace: str, floor: dict[int, float]
) -> list[Result]:
    """Goals 2 and 3: 200 runs created back to back -> Waiting; then each resumed -> Succeeded."""
    names = [f"b2b-{i}" for i in range(BACK_TO_BACK)]
    created = {name: _create(api, namespace, name, "waiter") for name in names}
    accepted = time.monotonic() - created[names[0]]
    runs.wait(names, "Waiting", 300)
    to_waiting = [(runs.seen[name, "Waiting"] - created[name]) * 1000 for name in names]
    started_rate = BACK_TO_BACK / (max(runs.seen[name, "Waiting"] for name in names) - created[names[0]])
    resumed = _timed(names, lambda name: _resume(api, namespace, name))
    runs.wait(names, "Succeeded", 300)
    to_done = [(runs.seen[name, "Succeeded"] - resumed[name]) * 1000 for name in names]
    return [
        Result("runs_200_create_to_waiting_p95", percentile(to_waiting, 95), "ms", "API write seen by a watch p95",
               floor[95]),
        Result("runs_200_started_per_second", started_rate, "runs/s", "API server accepting them",
               BACK_TO_BACK / accepted),
        *(Result(f"resume_to_succeeded_200_in_flight_p{q}", percentile(to_done, q), "ms",
                 f"API write seen by a watch p{q}", floor[q]) for q in (50, 95)),
    ]  # fmt: skip


def _resume(api: client.CustomObjectsApi, namespace: str, name: str) -> None:
    patch = {"spec": {"resume": [{"node": "ask", "input": {}}]}}
    api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)


def _timed(names: list[str], call: Callable[[str], None]) -> dict[str, float]:
    """`call` each name in turn: the monotonic time just before each call."""
    times = {}
    for name in names:
        times[name] = time.monotonic()
        call(name)
    return times


def run(api: client.CustomObjectsApi, namespace: str) -> list[Result]:
    """Goals 1-3 in `namespace`, where the `waiter` workflow exists (operator_status applies it)."""
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", chain_workflow(namespace))
    time.sleep(3)  # the Workflow's version stored
    runs = PhaseWatch(api, namespace)
    try:
        results = chain_apply_to_succeeded(api, runs, namespace)
        results += back_to_back_then_resume(api, runs, namespace, write_to_watch_latency(namespace))
    finally:
        runs.stop()
    return results
