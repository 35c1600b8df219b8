"""The stack's Kafka broker, through the client Drift's triggers use (confluent-kafka, librdkafka); and what a
trigger's consumer reports as its `Consuming` condition when it asks the brokers for its topic."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from drift_events.kafka_consumers import probe
from tests.conftest import free_port, stack_command


def _consume(consumer: Consumer, count: int, timeout: float = 60) -> list[Message]:
    """The next `count` records (errors such as a coordinator still loading are retried by polling)."""
    records: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(records) < count:
        assert time.monotonic() < deadline, f"got {len(records)} of {count} records in {timeout} s"
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            records.append(message)
    return records


def _consumer(bootstrap: str, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    return consumer


def test_records_and_committed_offsets_survive_a_broker_restart(stack_env):
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    topic, group = f"stack-test-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for number in range(3):
        producer.produce(topic, key=b"order-1", value=f"event {number}".encode(), headers={"ce_id": f"id-{number}"})
    assert producer.flush(30) == 0

    consumer = _consumer(bootstrap, group, topic)
    first = _consume(consumer, 2)
    assert [record.value() for record in first] == [b"event 0", b"event 1"]
    assert dict(first[0].headers() or []) == {"ce_id": b"id-0"}
    consumer.commit(first[-1], asynchronous=False)
    consumer.close()

    stack_command(stack_env, "restart", "kafka")

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"order-1", value=b"event 3")
    assert producer.flush(30) == 0
    consumer = _consumer(bootstrap, group, topic)
    after = _consume(consumer, 2)
    consumer.close()
    assert [record.value() for record in after] == [b"event 2", b"event 3"]  # from the committed offset on


def test_a_probe_finds_the_topic_names_a_missing_one_and_brokers_that_cannot_be_reached(stack_env):
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    topic = f"probe-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result(timeout=30)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"group-{uuid.uuid4().hex[:8]}"})
    try:
        found = probe(consumer, topic, bootstrap)
        missing = probe(consumer, f"{topic}-missing", bootstrap)
    finally:
        consumer.close()
    assert (found.status, found.reason, found.message) == ("True", "TopicFound", f"topic {topic}: 3 partitions")
    assert (missing.status, missing.reason) == ("False", "TopicNotFound")

    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    consumer = Consumer({"bootstrap.servers": nowhere, "group.id": "nowhere", "log_level": 0})
    try:
        unreachable = probe(consumer, topic, nowhere)
    finally:
        consumer.close()
    assert (unreachable.status, unreachable.reason) == ("False", "KafkaUnreachable")
    assert unreachable.message.startswith(f"brokers {nowhere}: ")
