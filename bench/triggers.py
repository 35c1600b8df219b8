"""WorkflowTriggers on Kafka against a hand-written consumer starting the same `DriftRun` workflow.

- `trigger_kafka_runs_per_s`: runs started per second while a trigger's consumer works off a backlog of
  1,000 CloudEvents (the span between the first and the last execution's start in Temporal);
- `trigger_event_to_running_p95` (and p50): from producing an event to its execution running in Temporal
  (its start time), 100 events at 5/s to a consumer already caught up.

The baseline is a consumer written by hand in this process: confluent-kafka batches of 200, each record's
`DriftRun` started with the same input shape and a duplicate-rejecting id, offsets committed after the batch
(drift-events' own protocol, without the trigger, the filter, the templates, the cache and the counters).
drift-events runs as a process of its own; both sides start runs on a task queue no worker polls, so only
the starting is measured, in the same run on the same stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from drift.run_contract import WORKFLOW_TYPE, RunStart
from drift.settings import temporal_settings
from drift.temporal_client import connect
from drift.trigger_events import trigger_workflow_id

from .kube_objects import kubectl, resource, workflow
from .report import Result, percentile

BACKLOG = 1000
STEADY = 100
STEADY_RATE = 5.0
"""Events per second in the latency part: below what both sides can start on this stack (Temporal's
development server on SQLite, the local stack's Temporal until 2026-11-27, started 20-50 runs/s on this 2-core
machine, depending on its load), so the latency is the path's, not a queue's."""
BATCH = 200
START_TIMEOUT = 300.0
PARTITIONS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names]).values():
        future.result(timeout=30)


def produce(
    bootstrap: str,
    topic: str,
    ids: list[str],
    rate: float | None = None,
    *,
    event_type: str = "bench.event",
    data: Callable[[int, str], dict[str, Any]] = lambda number, _id: {"n": number},
) -> dict[str, float]:
    """Produce one CloudEvent (binary mode) per id, at `rate` per second or at once: id -> produce time
    (`data` gives each event's data from its number and id)."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 1})
    produced: dict[str, float] = {}
    began = time.monotonic()
    for number, event_id in enumerate(ids):
        if rate:
            time.sleep(max(0.0, began + number / rate - time.monotonic()))
        headers = [("ce_id", event_id.encode()), ("ce_type", event_type.encode()), ("ce_source", b"bench"),
                   ("ce_specversion", b"1.0"), ("content-type", b"application/json")]  # fmt: skip
        produced[event_id] = time.time()
        producer.produce(topic, value=json.dumps(data(number, event_id)).encode(), headers=headers)
        producer.poll(0)
    assert producer.flush(60) == 0
    return produced


async def _start_times(client: Client, ids: list[str]) -> dict[str, datetime]:
    """Each workflow id's execution start time, once every one of them exists (within START_TIMEOUT)."""
    found: dict[str, datetime] = {}
    deadline = time.monotonic() + START_TIMEOUT
    while len(found) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: {len(found)} of {len(ids)} runs started in {START_TIMEOUT:.0f}s")
        missing = [wid for wid in ids if wid not in found]
        results = await asyncio.gather(*(client.get_workflow_handle(wid).describe() for wid in missing[:200]),
                                       return_exceptions=True)  # fmt: skip
        for wid, result in zip(missing[:200], results, strict=True):
            if not isinstance(result, BaseException):
                found[wid] = result.start_time
        if len(found) < len(ids) and not any(not isinstance(r, BaseException) for r in results):
            await asyncio.sleep(0.5)
    return found


def _rate(starts: dict[str, datetime]) -> float:
    times = sorted(moment.timestamp() for moment in starts.values())
    return (len(times) - 1) / (times[-1] - times[0])


def _latencies_ms(produced: dict[str, float], starts: dict[str, datetime], ids: dict[str, str]) -> list[float]:
    """event id -> workflow id in `ids`; milliseconds from produce to execution start."""
    return [(starts[ids[event]].timestamp() - at) * 1000 for event, at in produced.items()]


class HandWrittenConsumer:
    """The baseline: consume a batch, start each record's DriftRun, commit; nothing else."""

    def __init__(self, client: Client, bootstrap: str, topic: str, queue: str, version: str) -> None:
        self.client, self.queue, self.version = client, queue, version
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"hand-{topic}",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip
        self.consumer.subscribe([topic])

    @staticmethod
    def workflow_id(event_id: str) -> str:
        return f"bench/hand/{hashlib.sha256(event_id.encode()).hexdigest()[:32]}"

    async def _start(self, headers: dict[str, bytes], value: bytes) -> None:
        event_id = headers["ce_id"].decode()
        start = RunStart(namespace="bench", run_name=event_id[:40], run_uid="hand", workflow_name="bench-target",
                         workflow_version=self.version, input=json.loads(value))  # fmt: skip
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self.client.start_workflow(WORKFLOW_TYPE, start, id=self.workflow_id(event_id), task_queue=self.queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)  # fmt: skip

    async def run(self) -> None:
        while True:
            messages = await asyncio.to_thread(self.consumer.consume, BATCH, 1.0)
            records = [m for m in messages if m.error() is None]
            if records:
                await asyncio.gather(*(self._start(dict(m.headers() or []), m.value() or b"") for m in records))
                await asyncio.to_thread(self.consumer.commit, asynchronous=False)


def _drift_events(queue: str) -> tuple[subprocess.Popen[bytes], Callable[[], None]]:
    """drift-events on `queue`, healthy; and how to stop it."""
    metrics = _free_port()
    env = {**os.environ, "DRIFT_TASK_QUEUE": queue, "DRIFT_METRICS_PORT": str(metrics),
           "DRIFT_EVENTS_PORT": str(_free_port())}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "drift_events.main"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/healthz", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("benchmark: drift-events did not become healthy") from None
            time.sleep(0.2)

    def stop() -> None:
        process.terminate()
        process.wait(30)

    return process, stop


def _trigger(namespace: str, name: str, topic: str, initial: str) -> dict[str, Any]:
    source = {"kafka": {"topic": topic, "consumerGroup": f"drift-{topic}", "initialOffset": initial}}
    spec = {"workflowRef": {"name": "bench-target"}, "source": source, "input": {"n": "{{ event.data.n }}"}}
    return resource("WorkflowTrigger", name, namespace, spec)


async def _caught_up(produce: Callable[[list[str]], Any], started: Callable[[str], Awaitable[bool]]) -> None:
    """Produce probe events until one starts a run: the consumer has joined its group and is polling."""
    for attempt in range(120):
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        produce([probe])
        for _ in range(10):
            if await started(probe):
                return
            await asyncio.sleep(0.1)
        if attempt == 119:
            raise TimeoutError("benchmark: the consumer never started a probe's run")


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except Exception:  # noqa: BLE001 - not found (yet)
        return False
    return True


RUN_TAG = uuid.uuid4().hex[:6]
"""In every event id: the hand-written consumer's workflow ids (`bench/hand/...`) are new in every run."""
BACKLOG_IDS = [f"{RUN_TAG}-b-{i}" for i in range(BACKLOG)]
STEADY_IDS = [f"{RUN_TAG}-s-{i}" for i in range(STEADY)]


async def _drift_side(client: Client, bootstrap: str, namespace: str, topics: dict[str, str], queue: str):
    """(runs/s from the backlog, produce -> start latencies in ms) through a drift-events process."""
    process, stop = _drift_events(queue)
    try:
        produce(bootstrap, topics["backlog"], BACKLOG_IDS)
        triggers = [_trigger(namespace, "backlog", topics["backlog"], "Earliest"),
                    _trigger(namespace, "steady", topics["steady"], "Latest")]  # fmt: skip
        kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": triggers}))
        wid = {e: trigger_workflow_id(namespace, "backlog", e) for e in BACKLOG_IDS}
        rate = _rate(await _start_times(client, list(wid.values())))
        await _caught_up(lambda ids: produce(bootstrap, topics["steady"], ids),
                         lambda e: _exists(client, trigger_workflow_id(namespace, "steady", e)))  # fmt: skip
        produced = await asyncio.to_thread(produce, bootstrap, topics["steady"], STEADY_IDS, STEADY_RATE)
        wid = {e: trigger_workflow_id(namespace, "steady", e) for e in STEADY_IDS}
        return rate, _latencies_ms(produced, await _start_times(client, list(wid.values())), wid)
    finally:
        stop()
        assert process.returncode is not None


async def _hand_side(client: Client, bootstrap: str, topics: dict[str, str], queue: str, version: str):
    """The same through the hand-written consumer."""
    hand = HandWrittenConsumer(client, bootstrap, topics["hand-backlog"], queue, version)
    task = asyncio.create_task(hand.run())
    try:
        wid = {e: HandWrittenConsumer.workflow_id(e) for e in BACKLOG_IDS}
        produce(bootstrap, topics["hand-backlog"], BACKLOG_IDS)
        rate = _rate(await _start_times(client, list(wid.values())))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(hand.consumer.close)
    hand = HandWrittenConsumer(client, bootstrap, topics["hand-steady"], queue, version)
    task = asyncio.create_task(hand.run())
    try:
        await _caught_up(lambda probes: produce(bootstrap, topics["hand-steady"], probes),
                         lambda e: _exists(client, HandWrittenConsumer.workflow_id(e)))  # fmt: skip
        steady = [f"hand-{e}" for e in STEADY_IDS]
        produced = await asyncio.to_thread(produce, bootstrap, topics["hand-steady"], steady, STEADY_RATE)
        wid = {e: HandWrittenConsumer.workflow_id(e) for e in steady}
        return rate, _latencies_ms(produced, await _start_times(client, list(wid.values())), wid)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(hand.consumer.close)


async def _measure() -> list[Result]:
    bootstrap = os.environ["DRIFT_KAFKA_BOOTSTRAP"]
    client = await connect(temporal_settings(os.environ))
    namespace = f"bench-{RUN_TAG}"
    queue = f"bench-unpolled-{RUN_TAG}"
    topics = {name: f"bench-{name}-{RUN_TAG}" for name in ("backlog", "steady", "hand-backlog", "hand-steady")}
    create_topics(bootstrap, *topics.values())
    kubectl("create", "namespace", namespace)
    target = workflow("bench-target", namespace, [{"name": "done", "type": "success", "success": {"output": "input"}}])
    kubectl("apply", "-f", "-", stdin=json.dumps(target))
    kubectl("wait", "dwf/bench-target", "-n", namespace, "--for=condition=Ready", "--timeout=120s")
    version = json.loads(kubectl("get", "dwf/bench-target", "-n", namespace, "-o", "json"))["status"]["version"]
    drift_rate, drift_lat = await _drift_side(client, bootstrap, namespace, topics, queue)
    hand_rate, hand_lat = await _hand_side(client, bootstrap, topics, queue, version)
    kubectl("delete", "namespace", namespace, "--wait=false")
    hand = "hand-written consumer starting DriftRun"
    return [
        Result("trigger_kafka_runs_per_s", drift_rate, "runs/s", hand, hand_rate),
        *(
            Result(
                f"trigger_event_to_running_p{q}",
                percentile(drift_lat, q),
                "ms",
                f"{hand} p{q}",
                percentile(hand_lat, q),
            )
            for q in (50, 95)
        ),
    ]


def run() -> list[Result]:
    """Kafka trigger throughput and latency against a hand-written consumer."""
    return asyncio.run(_measure())
