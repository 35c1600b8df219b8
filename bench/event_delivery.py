"""`event` nodes against a hand-written consumer signalling a hand-written workflow.

- `event_node_delivery_p50`/`p95`: from producing a matching CloudEvent to Kafka to the waiting run's
  execution closing in Temporal (it ends in a success node right after the event node), 50 runs waiting,
  one event each at 5/s. Drift's side is the stack's own worker: its dispatcher (consumer group
  `drift-await`) computes the event's correlation key, finds the run's registration in HBase and signals
  it; the run takes the event, persists its context and completes.

The baseline is the least a hand-written system does: a confluent-kafka consumer in this process that
signals the workflow whose id it derives from the event's data (no registration, no inbox, no key), and a
workflow that waits for that signal and returns, on an in-process worker. Both sides first take a warm-up
event, so the consumers have joined their groups before anything is timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from datetime import datetime

from confluent_kafka import Consumer
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from drift.run_contract import QUERY_SNAPSHOT, WORKFLOW_TYPE, RunSnapshot, RunStart
from drift.settings import temporal_settings
from drift.temporal_client import connect

from .baseline_workflows import SignalWaiter
from .kube_objects import kubectl, workflow
from .report import Result, percentile
from .triggers import create_topics, produce

RUNS = 50
RATE = 5.0
TYPE = "payment.confirmed"
TIMEOUT = 180.0
TAG = uuid.uuid4().hex[:6]


def _orders(side: str) -> list[str]:
    return [f"{side}-{TAG}-warm", *(f"{side}-{TAG}-{n}" for n in range(RUNS))]


def _paid(_number: int, event_id: str) -> dict:
    return {"orderId": event_id.removeprefix("pay-")}


async def _closed_at(client: Client, workflow_id: str) -> datetime:
    deadline = time.monotonic() + TIMEOUT
    while (closed := (await client.get_workflow_handle(workflow_id).describe()).close_time) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: {workflow_id} did not end in {TIMEOUT:.0f}s")
        await asyncio.sleep(0.2)
    return closed


async def _latencies_ms(client: Client, bootstrap: str, topic: str, ids: dict[str, str]) -> list[float]:
    """ids: order -> workflow id. The warm-up event first (until its run ends), then one event per other
    order at RATE; ms from each produce to its run's close time."""
    orders = list(ids)
    await asyncio.to_thread(produce, bootstrap, topic, [f"pay-{orders[0]}"], event_type=TYPE, data=_paid)
    await _closed_at(client, ids[orders[0]])
    produced = await asyncio.to_thread(produce, bootstrap, topic, [f"pay-{order}" for order in orders[1:]], RATE,
                                       event_type=TYPE, data=_paid)  # fmt: skip
    closes = await asyncio.gather(*(_closed_at(client, ids[order]) for order in orders[1:]))
    return [
        (closed.timestamp() - produced[f"pay-{order}"]) * 1000 for order, closed in zip(orders[1:], closes, strict=True)
    ]


async def _waiting(client: Client, workflow_id: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    handle = client.get_workflow_handle(workflow_id)
    while True:
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):  # not started, or no worker answered yet
            if (await handle.query(QUERY_SNAPSHOT, result_type=RunSnapshot)).phase == "Waiting":
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: {workflow_id} never waited for its event")
        await asyncio.sleep(0.3)


async def _drift_side(client: Client, bootstrap: str, topic: str) -> list[float]:
    namespace = f"bench-events-{TAG}"
    block = {"source": {"kafka": {"topic": topic}}, "type": TYPE, "correlation": "event.data.orderId == input.orderId"}
    nodes = [{"name": "await-payment", "type": "event", "event": block, "next": "paid"},
             {"name": "paid", "type": "success", "success": {"output": "context['await-payment'].data"}}]  # fmt: skip
    kubectl("create", "namespace", namespace)
    kubectl("apply", "-f", "-", stdin=json.dumps(workflow("await-payment", namespace, nodes)))
    kubectl("wait", "dwf/await-payment", "-n", namespace, "--for=condition=Ready", "--timeout=120s")
    version = json.loads(kubectl("get", "dwf/await-payment", "-n", namespace, "-o", "json"))["status"]["version"]
    queue = temporal_settings(os.environ).task_queue
    ids = {order: f"bench/events/{order}" for order in _orders("drift")}
    for order, workflow_id in ids.items():
        start = RunStart(namespace=namespace, run_name=order, run_uid=order, workflow_name="await-payment",
                         workflow_version=version, input={"orderId": order})  # fmt: skip
        await client.start_workflow(WORKFLOW_TYPE, start, id=workflow_id, task_queue=queue)
    await asyncio.gather(*(_waiting(client, workflow_id) for workflow_id in ids.values()))
    try:
        return await _latencies_ms(client, bootstrap, topic, ids)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")


async def _signal_consumer(client: Client, bootstrap: str, topic: str) -> None:
    """The baseline consumer: each record signals the workflow named by its data's orderId, then commits."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"hand-await-{TAG}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([topic])
    try:
        while True:
            messages = await asyncio.to_thread(consumer.consume, 100, 0.2)
            records = [m for m in messages if m.error() is None]
            for record in records:
                event = json.loads(record.value() or b"{}")
                await client.get_workflow_handle(f"bench/hand-await/{event['orderId']}").signal(
                    SignalWaiter.deliver, event
                )
            if records:
                await asyncio.to_thread(consumer.commit, asynchronous=False)
    finally:
        await asyncio.to_thread(consumer.close)


async def _hand_side(client: Client, bootstrap: str, topic: str) -> list[float]:
    queue = f"bench-hand-await-{TAG}"
    ids = {order: f"bench/hand-await/{order}" for order in _orders("hand")}
    async with Worker(client, task_queue=queue, workflows=[SignalWaiter]):
        for workflow_id in ids.values():
            await client.start_workflow(SignalWaiter.run, id=workflow_id, task_queue=queue)
        consumer = asyncio.create_task(_signal_consumer(client, bootstrap, topic))
        try:
            return await _latencies_ms(client, bootstrap, topic, ids)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)


async def _measure() -> list[Result]:
    bootstrap = os.environ["DRIFT_KAFKA_BOOTSTRAP"]
    client = await connect(temporal_settings(os.environ))
    drift_topic, hand_topic = f"bench-payments-{TAG}", f"bench-hand-payments-{TAG}"
    create_topics(bootstrap, drift_topic, hand_topic)
    drift = await _drift_side(client, bootstrap, drift_topic)
    hand = await _hand_side(client, bootstrap, hand_topic)
    baseline = "hand-written consumer signalling a waiting workflow"
    return [Result(f"event_node_delivery_p{q}", percentile(drift, q), "ms", f"{baseline} p{q}", percentile(hand, q))
            for q in (50, 95)]  # fmt: skip


def run() -> list[Result]:
    """Event delivery to waiting runs against a hand-written consumer and workflow."""
    return asyncio.run(_measure())
