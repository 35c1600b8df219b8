"""event nodes against the real stack: events from the stack's Kafka broker reach the runs that wait for them."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from drift.event_inbox import EventInbox
from drift_worker.event_dispatcher import EventDispatcher

from .worker_harness import replays, snapshot_when


@pytest.fixture(scope="module")
async def dispatcher(drift, stack_env):
    """The worker's dispatcher on the test's private tables, in a consumer group of its own."""
    running = EventDispatcher(stack_env["DRIFT_KAFKA_BOOTSTRAP"], EventInbox(drift.store), drift.client,
                              group=f"test-await-{uuid.uuid4().hex[:8]}")  # fmt: skip
    task = asyncio.create_task(running.run())
    yield running
    running.stop()
    await task


@pytest.fixture
def topic(stack_env) -> str:
    name = f"payments-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack_env["DRIFT_KAFKA_BOOTSTRAP"]})
    for future in admin.create_topics([NewTopic(name, 2, 1)]).values():
        future.result(timeout=30)
    return name


def _publish(bootstrap: str, topic: str, event_id: str, order: str, event_type: str = "payment.confirmed") -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    headers = {"ce_specversion": "1.0", "ce_id": event_id, "ce_type": event_type, "ce_source": "payments",
               "ce_time": datetime.now(UTC).isoformat(), "content-type": "application/json"}  # fmt: skip
    producer.produce(topic, key=order, value=json.dumps({"orderId": order, "paid": True}), headers=headers)
    assert producer.flush(30) == 0


def _workflow(topic: str, **event: object) -> dict:
    block = {"source": {"kafka": {"topic": topic}}, "type": "payment.confirmed",
             "correlation": "event.data.orderId == input.orderId", **event}  # fmt: skip
    return {"startAt": "await-payment", "nodes": [
        {"name": "await-payment", "type": "event", "event": block, "next": "paid"},
        {"name": "paid", "type": "success", "success": {"output": "context['await-payment']"}},
        {"name": "missing", "type": "failure", "failure": {"code": "NO_PAYMENT", "message": "no payment"}},
    ]}  # fmt: skip


async def test_an_event_published_before_the_run_waits_is_not_lost(drift, dispatcher, topic, stack_env):
    _publish(stack_env["DRIFT_KAFKA_BOOTSTRAP"], topic, "pay-1", "o-1")
    handle = await drift.start(await drift.publish_workflow("await-early", _workflow(topic)), {"orderId": "o-1"})
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.phase == "Succeeded", result.error
    assert result.output["id"] == "pay-1"
    assert result.output["data"] == {"orderId": "o-1", "paid": True}
    assert (result.output["type"], result.output["source"]) == ("payment.confirmed", "payments")
    await replays(handle)


async def test_only_the_matching_event_is_taken_once(drift, dispatcher, topic, stack_env):
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    handle = await drift.start(await drift.publish_workflow("await-late", _workflow(topic)), {"orderId": "o-2"})
    waiting = await snapshot_when(handle, lambda s: s.phase == "Waiting", within=30)
    assert waiting.waiting_for.event.key == f'{topic}/payment.confirmed/data.orderId="o-2"'
    assert waiting.waiting_for.message == "await payment.confirmed"
    _publish(bootstrap, topic, "other-1", "o-other")
    _publish(bootstrap, topic, "wrong-type", "o-2", event_type="payment.failed")
    _publish(bootstrap, topic, "pay-2", "o-2")
    _publish(bootstrap, topic, "pay-2", "o-2")  # a redelivery
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.phase == "Succeeded", result.error
    assert result.output["id"] == "pay-2"
    await replays(handle)


async def test_no_event_in_time_goes_to_on_timeout(drift, dispatcher, topic):
    spec = _workflow(topic, timeoutSeconds=2, onTimeout="missing")
    result = await drift.run(spec, {"orderId": "o-3"}, name="await-timeout")
    assert (result.phase, result.error.code) == ("Failed", "NO_PAYMENT")
