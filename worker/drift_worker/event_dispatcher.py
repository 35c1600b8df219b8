"""Delivers awaited events: consumes the topics event nodes wait on and signals the runs waiting for them.

One consumer in the group `drift-await` per worker process (Kafka spreads the partitions over the workers).
For each event: its keys for the correlation paths in use (`EventInbox.paths`), the event written to each
key's inbox, then every run registered under the key signalled (`drift.event`), and every run registered
under the key without its topic (runs that waited before keys had topics). The offset is committed only
after that, so a crash re-reads (at least once) and the runs ignore an event id they have taken. The
subscription follows the topics runs register, checked every few seconds; a new topic is read from its
beginning, so an event published before any run waited on its topic still reaches the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from confluent_kafka import Consumer, Message, TopicPartition
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from drift.event_inbox import EventInbox
from drift.event_keys import event_key, unscoped_key, value_at
from drift.kafka_groups import CONSUMER_CONFIG
from drift.run_contract import SIGNAL_EVENT

from .messages import EventDelivery

log = logging.getLogger(__name__)
GROUP = "drift-await"
TOPICS_REFRESH_SECONDS = 3.0
POLL_SECONDS = 0.5


def parse_event(message: Message) -> dict[str, Any]:
    """The CloudEvent in a Kafka message (binary or structured mode) as `{id, type, source, subject, time,
    data}`; ValueError naming the problem when it is none."""
    headers = {key: value or b"" for key, value in message.headers() or []}
    raw = ce_kafka.KafkaMessage(headers=headers, key=message.key(), value=message.value() or b"")
    try:
        event = ce_kafka.from_kafka(raw, JSONFormat())
    except (BaseCloudEventException, ValueError, KeyError) as exc:
        raise ValueError(f"not a CloudEvent: {exc}") from None
    moment = event.get_time()
    return {"id": event.get_id(), "type": event.get_type(), "source": event.get_source(),
            "subject": event.get_subject(), "time": moment.isoformat() if moment else None,
            "data": event.get_data()}  # fmt: skip


class EventDispatcher:
    """Consumes the awaited topics and signals the waiting runs (run until cancelled)."""

    def __init__(self, bootstrap: str, inbox: EventInbox, temporal: Client, group: str = GROUP) -> None:
        self.inbox = inbox
        self.temporal = temporal
        self.consumer = Consumer({**CONSUMER_CONFIG, "bootstrap.servers": bootstrap, "group.id": group,
                                  "auto.offset.reset": "earliest"})  # fmt: skip
        self.topics: list[str] = []
        self.checked = 0.0
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        """Dispatch until `stop()`; the consumer is closed once no poll is in flight. A failure (HBase,
        Temporal or Kafka out of reach) is logged and the loop goes on: it never ends before `stop()`."""
        loop = asyncio.get_running_loop()
        try:
            while not self.stopping.is_set():
                try:
                    await self._step(loop)
                except Exception:  # whatever failed is tried again: the loop must not end
                    log.warning("event dispatch failed; retrying", exc_info=True)
                    await asyncio.sleep(1.0)
        finally:
            await loop.run_in_executor(None, self.consumer.close)

    async def _step(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow the topics, take one event, dispatch it, commit its offset (after the signals)."""
        await self._follow_topics()
        if not self.topics:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), TOPICS_REFRESH_SECONDS)
            return
        message = await loop.run_in_executor(None, self.consumer.poll, POLL_SECONDS)
        if message is None or message.error() is not None:
            return
        try:
            await self.dispatch(message)
        except Exception:  # HBase or Temporal out of reach: read the event again
            log.warning("dispatching %s[%d]@%d failed; retrying", message.topic(), message.partition(),
                        message.offset(), exc_info=True)  # fmt: skip
            self.consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
            await asyncio.sleep(1.0)
            return
        # A commit that fails (the broker gone, the partition moved) is logged by `run`: the event comes
        # again, and its runs ignore an event id they have taken.
        await loop.run_in_executor(None, functools.partial(self.consumer.commit, message, asynchronous=False))

    def stop(self) -> None:
        self.stopping.set()

    async def _follow_topics(self) -> None:
        if time.monotonic() - self.checked < TOPICS_REFRESH_SECONDS:
            return
        self.checked = time.monotonic()
        topics = await self.inbox.topics()
        if topics != self.topics:
            log.info("awaiting events on topics %s", ", ".join(topics))
            self.consumer.subscribe(topics)
            self.topics = topics

    async def dispatch(self, message: Message) -> None:
        """Put the event in the inbox of each of its keys and signal the runs waiting there."""
        try:
            event = parse_event(message)
        except ValueError as exc:
            log.warning("skipped %s[%d]@%d: %s", message.topic(), message.partition(), message.offset(), exc)
            return
        topic = message.topic()
        for field in await self.inbox.paths(topic, event["type"]):
            found, value = value_at(event, field)
            if not found:
                continue
            key = event_key(topic, event["type"], field, value)
            for workflow_id in await self.inbox.deliver(key, event):
                await self._signal(workflow_id, EventDelivery(key=key, event=event))
            legacy = unscoped_key(topic, key)  # runs that registered before keys had topics
            for workflow_id in await self.inbox.waiting(legacy):
                await self._signal(workflow_id, EventDelivery(key=legacy, event=event))

    async def _signal(self, workflow_id: str, delivery: EventDelivery) -> None:
        try:
            await self.temporal.get_workflow_handle(workflow_id).signal(SIGNAL_EVENT, delivery)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:  # a finished run's stale registration: nothing to do
                raise
