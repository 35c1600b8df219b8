"""The run path as a user sees it through the API server (issue 13's goals 1-3), each beside a baseline of the
same run:

1. a 10-node processor chain, WorkflowRun created -> `Succeeded` seen by a watch (baseline: ten hand-written
   remote activities on the same Temporal);
2. 200 runs created back to back -> each `Waiting` (p95 of create -> Waiting seen), and the rate they reach it;
3. with those 200 runs in flight, a resume patch -> `Succeeded` seen (p50/p95), twice: paced, 40 of them resumed
   one every 0.25 s (people approving, 200 -> 161 runs in flight), then a burst, the other 160 resumed back to back.
The baselines of 2 and 3 are the same written by hand on the same Temporal (`hand_written`): 200 workflows
started by a client, each running one local activity and waiting for a signal, then each signalled; the starts
and the signals keep the schedule of the WorkflowRuns' creates and resume patches (the same offsets from the
first), so both sides meet the same load in time. What the baseline does not carry is the API server's and
etcd's work for each WorkflowRun and the writes a DriftRun costs Temporal beyond a bare workflow (an update,
visibility upserts), which on this machine sent the worker's tasks through Temporal's task backlog (README,
"Where a run's time goes").
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from kubernetes import client, watch
from temporalio.client import WorkflowHandle
from temporalio.worker import Worker

from drift.settings import temporal_settings
from drift.temporal_client import connect

from .baseline_workflows import Arrivals, WaitsForAnswer
from .kube_objects import GROUP, VERSION, resource, workflow
from .processes import CpuMark, CpuUse
from .report import Result, percentile
from .worker_chain import remote_chain_ms

PLURAL = "workflowruns"
CHAIN_SAMPLES = 15
BACK_TO_BACK = 200
PACED = 40
PACE_SECONDS = 0.25


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


@dataclass(frozen=True)
class HandWritten:
    """The same runs written by hand on the same Temporal: the ceiling of goals 2 and 3 on this machine."""

    waiting_per_second: float
    to_waiting_ms: list[float]
    answer_to_done_ms: list[float]
    starts_cpu: CpuUse
    """From the first start to the last wait."""
    answers_cpu: CpuUse
    """From the `answers_measured_from`-th answer to the last result."""


HAND_WRITTEN_SERVICES = ("temporal", "postgres")
"""The stack services a hand-written baseline's CPU counts beside its own process (worker and client)."""


def hand_written(
    count: int,
    start_offsets: list[float] | None = None,
    answer_offsets: list[float] | None = None,
    answers_measured_from: int = 0,
) -> HandWritten:
    """`count` WaitsForAnswer workflows (a worker in this process), the i-th started `start_offsets[i]` s after
    the first (all at once without offsets), each start -> its wait; then the i-th answered `answer_offsets[i]` s
    after the first answer, each signal -> its result; and the CPU used by both (`answers_measured_from`: the
    answers whose CPU is counted begin with this one)."""

    async def measure() -> HandWritten:
        client = await connect(temporal_settings(os.environ))
        queue = f"bench-{uuid.uuid4()}"
        ids = [f"bench-{uuid.uuid4()}" for _ in range(count)]
        start_at, answer_at = start_offsets or [0.0] * count, answer_offsets or [0.0] * count
        started: dict[str, float] = {}

        async def start(workflow_id: str, at: float) -> WorkflowHandle[WaitsForAnswer, None]:
            await asyncio.sleep(at - time.monotonic())
            started[workflow_id] = time.monotonic()
            return await client.start_workflow(WaitsForAnswer.run, id=workflow_id, task_queue=queue)

        async def answer(index: int, handle: WorkflowHandle[WaitsForAnswer, None], at: float) -> float:
            await asyncio.sleep(at - time.monotonic())
            if index == answers_measured_from:
                answers_mark.append(CpuMark.now())
            began = time.monotonic()
            await handle.signal(WaitsForAnswer.answer)
            await handle.result()
            return (time.monotonic() - began) * 1000

        arrivals = Arrivals()
        answers_mark: list[CpuMark] = []  # taken by the answer `answers_measured_from`
        async with Worker(client, task_queue=queue, workflows=[WaitsForAnswer], activities=[arrivals.arrived],
                          max_concurrent_local_activities=count):  # fmt: skip
            starts_mark, first = CpuMark.now(), time.monotonic()
            handles = await asyncio.gather(*(start(i, first + at) for i, at in zip(ids, start_at, strict=True)))
            waiting = dict([await arrivals.queue.get() for _ in ids])
            starts_cpu, first = CpuUse.since(starts_mark), time.monotonic()
            answers = zip(handles, answer_at, strict=True)
            done = await asyncio.gather(*(answer(index, h, first + at) for index, (h, at) in enumerate(answers)))
            answers_cpu = CpuUse.since(answers_mark[0])
        to_waiting = [(waiting[workflow_id] - started[workflow_id]) * 1000 for workflow_id in ids]
        rate = count / (max(waiting.values()) - min(started.values()))
        return HandWritten(rate, to_waiting, list(done), starts_cpu, answers_cpu)

    return asyncio.run(measure())


def _offsets(times: dict[str, float], names: list[str]) -> list[float]:
    """Each name's time after the first of them, in `names`' order."""
    return [times[name] - times[names[0]] for name in names]


def back_to_back_then_resume(api: client.CustomObjectsApi, runs: PhaseWatch, namespace: str) -> list[Result]:
    """Goals 2 and 3: 200 runs created back to back -> Waiting; then each resumed -> Succeeded, the first PACED one
    every PACE_SECONDS, the rest back to back; beside the same written by hand on Temporal (`hand_written`)."""
    names = [f"b2b-{i}" for i in range(BACK_TO_BACK)]
    mark = CpuMark.now()
    created = {name: _create(api, namespace, name, "waiter") for name in names}
    runs.wait(names, "Waiting", 300)
    starts_cpu = CpuUse.since(mark)
    to_waiting = [(runs.seen[name, "Waiting"] - created[name]) * 1000 for name in names]
    started_rate = BACK_TO_BACK / (max(runs.seen[name, "Waiting"] for name in names) - created[names[0]])
    resumed = resume_each(api, namespace, names[:PACED], pause=PACE_SECONDS)
    mark = CpuMark.now()
    resumed |= resume_each(api, namespace, names[PACED:])
    runs.wait(names, "Succeeded", 300)
    burst_cpu = CpuUse.since(mark)
    to_done = [(runs.seen[name, "Succeeded"] - resumed[name]) * 1000 for name in names]
    hand = hand_written(BACK_TO_BACK, _offsets(created, names), _offsets(resumed, names), PACED)
    bursts = BACK_TO_BACK - PACED
    print(f"CPU ms per run, create -> Waiting: {starts_cpu.breakdown(BACK_TO_BACK)}")
    print(f"  hand-written: {hand.starts_cpu.breakdown(BACK_TO_BACK)}")
    print(f"CPU ms per resume, burst: {burst_cpu.breakdown(bursts)}")
    print(f"  hand-written: {hand.answers_cpu.breakdown(bursts)}")
    resumes = {"paced": slice(None, PACED), "burst": slice(PACED, None)}
    return [
        Result("runs_200_create_to_waiting_p95", percentile(to_waiting, 95), "ms",
               "hand-written, started on the runs' schedule: start -> wait p95", percentile(hand.to_waiting_ms, 95)),
        Result("runs_200_started_per_second", started_rate, "runs/s", "hand-written, same schedule: their wait",
               hand.waiting_per_second),
        *(Result(f"resume_to_succeeded_{kind}_p{q}", percentile(to_done[part], q), "ms",
                 f"hand-written, same schedule: signal -> result p{q}", percentile(hand.answer_to_done_ms[part], q))
          for kind, part in resumes.items() for q in (50, 95)),
        *_cpu_rows("runs_200", "run", starts_cpu, hand.starts_cpu, BACK_TO_BACK),
        *_cpu_rows("resume_burst", "resume", burst_cpu, hand.answers_cpu, bursts),
    ]  # fmt: skip


def _cpu_rows(prefix: str, per: str, drift: CpuUse, hand: CpuUse, count: int) -> list[Result]:
    """The CPU a phase of goal 2 or 3 cost: milliseconds per `per` (run, resume) in all of the stack's services
    (the hand-written baseline: Temporal, PostgreSQL and its own worker and client), and the share of the
    machine's core time that was busy."""
    hand_ms = hand.ms_per(count, *HAND_WRITTEN_SERVICES) + 1000 * hand.this_process / count
    return [
        Result(f"{prefix}_cpu_ms_per_{per}", drift.ms_per(count), "ms",
               "hand-written, same schedule: Temporal, PostgreSQL, its worker", hand_ms),
        Result(f"{prefix}_cores_busy", 100 * drift.busy_share, "%", "hand-written, same schedule",
               100 * hand.busy_share),
    ]  # fmt: skip


def resume_each(api: client.CustomObjectsApi, namespace: str, names: list[str], pause: float = 0.0) -> dict[str, float]:
    """Answer the `ask` node of each run in turn (a `spec.resume` patch), `pause` seconds after each: the monotonic
    time just before each patch."""
    patch = {"spec": {"resume": [{"node": "ask", "input": {}}]}}
    times = {}
    for name in names:
        times[name] = time.monotonic()
        api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)
        time.sleep(pause)
    return times


def run(api: client.CustomObjectsApi, namespace: str) -> list[Result]:
    """Goals 1-3 in `namespace`, where the `waiter` workflow exists (operator_status applies it)."""
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", chain_workflow(namespace))
    time.sleep(3)  # the Workflow's version stored
    runs = PhaseWatch(api, namespace)
    try:
        results = chain_apply_to_succeeded(api, runs, namespace)
        results += back_to_back_then_resume(api, runs, namespace)
    finally:
        runs.stop()
    return results
