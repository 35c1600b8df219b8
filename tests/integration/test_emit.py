"""emit nodes against the real stack: CloudEvents to the stack's Kafka broker and to an HTTP endpoint."""

from __future__ import annotations

import json
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from .worker_harness import replays

EMIT = {
    "name": "request-payment", "type": "emit", "next": "done",
    "emit": {"type": "payment.requested", "subject": "{{ input.orderId }}",
             "data": {"orderId": "{{ input.orderId }}", "amount": "{{ input.amount }}"}},
}  # fmt: skip
DONE = {"name": "done", "type": "success", "success": {"output": "context['request-payment']"}}


def _topic(bootstrap: str) -> str:
    topic = f"payments-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the topic exists
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result(timeout=30)
    return topic


def _records(bootstrap: str, topic: str, count: int, timeout: float = 30) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([topic])
    records, deadline = [], time.monotonic() + timeout
    try:
        while len(records) < count:
            assert time.monotonic() < deadline, f"got {len(records)} of {count} records"
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                records.append(message)
    finally:
        consumer.close()
    return records


async def test_an_event_reaches_kafka_in_binary_mode_with_its_id_in_the_result(drift, stack_env):
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    topic = _topic(bootstrap)
    node = {**EMIT, "emit": {**EMIT["emit"], "sink": {"kafka": {"topic": topic, "key": "{{ input.orderId }}"}}}}
    workflow = await drift.publish_workflow("emit-kafka", {"startAt": "request-payment", "nodes": [node, DONE]})
    handle = await drift.start(workflow, {"orderId": "o-17", "amount": 40})
    result = await handle.result()
    assert result.phase == "Succeeded", result.error
    sent = result.output
    assert sent["id"].startswith(f"{handle.id}/request-payment/")
    assert (sent["topic"], sent["offset"]) == (topic, 0)

    (record,) = _records(bootstrap, topic, 1)
    headers = {key: value.decode() for key, value in record.headers()}
    assert record.key() == b"o-17"
    assert (record.partition(), record.offset()) == (sent["partition"], 0)
    assert headers["ce_id"] == sent["id"]
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "payment.requested"
    assert headers["ce_source"] == "drift/default/emit-kafka"
    assert headers["ce_subject"] == "o-17"
    assert headers["content-type"] == "application/json"
    assert json.loads(record.value()) == {"orderId": "o-17", "amount": 40}
    await replays(handle)


async def test_a_retried_http_event_keeps_its_id(drift, server):
    sink = {"http": {"url": f"{server.url}/events?fail=2", "headers": {"x-order": "{{ input.orderId }}"}}}
    node = {**EMIT, "emit": {**EMIT["emit"], "sink": sink}, "retry": {"maxAttempts": 3, "initialIntervalSeconds": 0.1}}
    workflow = await drift.publish_workflow("emit-http", {"startAt": "request-payment", "nodes": [node, DONE]})
    handle = await drift.start(workflow, {"orderId": "o-18", "amount": 5})
    result = await handle.result()
    assert result.phase == "Succeeded", result.error
    assert result.output["status"] == 202
    assert [event["content_type"] for event in server.events] == ["application/cloudevents+json"] * 3
    bodies = [event["body"] for event in server.events]
    assert {body["id"] for body in bodies} == {result.output["id"]}, "every attempt sends the same event"
    assert bodies[0]["type"] == "payment.requested"
    assert bodies[0]["data"] == {"orderId": "o-18", "amount": 5}
    assert bodies[0]["specversion"] == "1.0"
    await replays(handle)


async def test_an_event_the_sink_refuses_fails_the_node_with_its_code(drift, server):
    node = {**EMIT, "emit": {**EMIT["emit"], "sink": {"http": {"url": f"{server.url}/events?fail=9&status=400"}}}}
    result = await drift.run({"startAt": "request-payment", "nodes": [node, DONE]}, {"orderId": "o-19", "amount": 1})
    assert result.phase == "Failed"
    assert (result.error.node, result.error.code) == ("request-payment", "HTTP_400")
    assert server.calls["events"] == 1, "a 400 is not retried"
