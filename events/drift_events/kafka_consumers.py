"""One Kafka consumer per Kafka trigger, in the trigger's consumer group (Kafka spreads the partitions over
the drift-events replicas).

At least once: a batch of records is taken, every record's run is started (or the record filtered, or
counted failed), and only then are the offsets committed; a crash or a rebalance before the commit re-reads
the batch, and the runs' fixed workflow ids turn the re-read into duplicates that start nothing. The
confluent-kafka consumer blocks, so each one runs on a thread of its own (it is not safe to share).

Every `PROBE_SECONDS` a consumer asks the brokers for its topic's metadata and reports what it found as the
trigger's `Consuming` condition (written with the status counters): a topic that does not exist, or brokers
that cannot be reached, show on the trigger, not only in this process's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message

from drift.conditions import CONSUMING, Desired
from drift.kafka_groups import CONSUMER_CONFIG
from drift.metrics import TRIGGER_CONSUMING

from .cloud_events import MalformedEvent, from_kafka
from .counters import TriggerCounters
from .events_settings import EventsSettings
from .outcomes import Outcome
from .retry import until_done
from .served import Served
from .starter import Starter

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
PROBE_SECONDS = 10.0
"""How often a consumer checks its topic on the brokers (its trigger's `Consuming` condition)."""
PROBE_TIMEOUT_SECONDS = 5.0
UNREACHABLE = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._RESOLVE}
T = TypeVar("T")


def consuming(topic: str, bootstrap: str, partitions: int, error: KafkaError | None) -> Desired:
    """The `Consuming` condition from a metadata request for `topic`: its partitions, or the error it met.

    Reasons are API: `TopicFound` (True), `TopicNotFound`, `KafkaUnreachable`, `KafkaError` (any other error
    the brokers answered with), `ConsumerFailed` (the consumer ended; see `KafkaConsumers.sync`).
    """
    if error is None:
        return Desired(CONSUMING, "True", "TopicFound", f"topic {topic}: {partitions} partitions")
    if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
        message = f"topic {topic} does not exist on {bootstrap}; its records are read once it is created"
        return Desired(CONSUMING, "False", "TopicNotFound", message)
    if error.code() in UNREACHABLE:
        return Desired(CONSUMING, "False", "KafkaUnreachable", f"brokers {bootstrap}: {error.str()}")
    return Desired(CONSUMING, "False", "KafkaError", f"topic {topic}: {error.str()}")


def probe(consumer: Consumer, topic: str, bootstrap: str) -> Desired:
    """Ask the brokers for `topic` (blocks up to PROBE_TIMEOUT_SECONDS): the `Consuming` condition."""
    try:
        found = consumer.list_topics(topic, timeout=PROBE_TIMEOUT_SECONDS).topics.get(topic)
    except KafkaException as exc:
        return consuming(topic, bootstrap, 0, exc.args[0])
    if found is None:
        return consuming(topic, bootstrap, 0, KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    return consuming(topic, bootstrap, len(found.partitions), found.error)


def publish(counters: TriggerCounters, trigger: Served, condition: Desired) -> None:
    """A trigger's `Consuming` condition to its gauge now and to its status with the next counters' write."""
    TRIGGER_CONSUMING.labels(*trigger.key).set(1 if condition.status == "True" else 0)
    counters.source(trigger.namespace, trigger.name, trigger.uid, trigger.generation, condition)


class TriggerConsumer:
    """The consumer of one trigger (one generation of it)."""

    def __init__(self, trigger: Served, settings: EventsSettings, starter: Starter, counters: TriggerCounters) -> None:
        self.trigger = trigger
        self._settings = settings
        self._starter = starter
        self._counters = counters
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"kafka-{trigger.namespace}-{trigger.name}")
        self._reported: Desired | None = None

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def _config(self) -> dict[str, Any]:
        source = self.trigger.spec.source.kafka
        assert source is not None
        return {
            **CONSUMER_CONFIG,
            "bootstrap.servers": self._settings.kafka_bootstrap,
            "group.id": source.consumer_group,
            "auto.offset.reset": source.initial_offset.lower(),
            "client.id": f"drift-events-{self.trigger.namespace}-{self.trigger.name}",
        }

    async def run(self) -> None:
        """Consume until cancelled; the consumer leaves its group when it ends."""
        source = self.trigger.spec.source.kafka
        assert source is not None
        consumer = await self._call(Consumer, self._config())
        try:
            await self._call(consumer.subscribe, [source.topic])
            probed = -PROBE_SECONDS
            while True:
                if time.monotonic() - probed >= PROBE_SECONDS:
                    probed = time.monotonic()
                    self._report(await self._call(probe, consumer, source.topic, self._settings.kafka_bootstrap))
                messages = await self._call(consumer.consume, self._settings.batch, POLL_SECONDS)
                records = [message for message in messages if self._usable(message)]
                if records:
                    await asyncio.gather(*(self._one(record) for record in records))
                    await self._call(self._commit, consumer)
        finally:
            with contextlib.suppress(KafkaException, RuntimeError):
                await asyncio.shield(self._call(consumer.close))
            self._thread.shutdown(wait=False)

    def _report(self, condition: Desired) -> None:
        """Publish a changed `Consuming` condition (and log it)."""
        if condition == self._reported:
            return
        self._reported = condition
        level = logging.INFO if condition.status == "True" else logging.WARNING
        log.log(level, "trigger %s/%s: %s: %s", *self.trigger.key, condition.reason, condition.message)
        publish(self._counters, self.trigger, condition)

    def _usable(self, message: Message) -> bool:
        error = message.error()
        if error is not None:
            log.warning("trigger %s/%s: Kafka: %s", *self.trigger.key, error)
        return error is None

    def _commit(self, consumer: Consumer) -> None:
        """Commit the positions after the batch (every record in it is done)."""
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:  # a rebalance took the partitions: the new owner re-reads, duplicates only
            log.warning("trigger %s/%s: offsets not committed: %s", *self.trigger.key, exc)

    async def _one(self, message: Message) -> None:
        trigger = self.trigger
        self._counters.received(trigger.namespace, trigger.name, trigger.uid)
        try:
            event = from_kafka(
                topic=message.topic() or "",
                partition=message.partition() or 0,
                offset=message.offset() or 0,
                key=message.key(),
                value=message.value(),
                headers=list(message.headers() or ()),
            )
        except MalformedEvent as exc:
            log.warning(
                "trigger %s/%s: record %s/%s skipped: %s", *trigger.key, message.partition(), message.offset(), exc
            )
            outcome = Outcome("failed", str(exc))
        else:
            outcome = await until_done(self._starter, trigger, event, self._settings.retry_seconds)
        self._counters.outcome(trigger.namespace, trigger.name, trigger.uid, outcome, "kafka")


class KafkaConsumers:
    """The running consumers, kept in step with the served triggers."""

    def __init__(self, settings: EventsSettings, starter: Starter, counters: TriggerCounters) -> None:
        self._settings = settings
        self._starter = starter
        self._counters = counters
        self._running: dict[tuple[str, str], tuple[Served, asyncio.Task[None]]] = {}

    def sync(self, triggers: Mapping[tuple[str, str], Served]) -> None:
        """Stop consumers of removed or changed triggers (and restart ended ones); start the missing ones."""
        for key, (served, task) in list(self._running.items()):
            now = triggers.get(key)
            if now is not served or task.done():
                if task.done() and not task.cancelled() and task.exception():
                    log.error("trigger %s/%s: consumer ended: %s", *key, task.exception())
                    failed = Desired(CONSUMING, "False", "ConsumerFailed", f"the consumer ended: {task.exception()}")
                    publish(self._counters, served, failed)
                task.cancel()
                del self._running[key]
                if now is None or now.spec.source.kafka is None:  # no longer read from Kafka: its series goes
                    with contextlib.suppress(KeyError):
                        TRIGGER_CONSUMING.remove(*key)
        for key, served in triggers.items():
            if served.spec.source.kafka is not None and key not in self._running:
                consumer = TriggerConsumer(served, self._settings, self._starter, self._counters)
                self._running[key] = (served, asyncio.create_task(consumer.run(), name=f"kafka {key[0]}/{key[1]}"))
                log.info("trigger %s/%s: consuming %s", *key, served.spec.source.kafka.topic)

    async def close(self) -> None:
        """Stop every consumer (each leaves its group)."""
        tasks = [task for _, task in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
