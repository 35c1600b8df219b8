"""Publishing an emit node's CloudEvent: to Kafka in binary mode, or over HTTP in structured mode.

At least once: a Kafka event counts as sent only when the broker acknowledged it from all in-sync replicas
(`acks=all`, idempotent producer); an HTTP event only on a 2xx. Every failure is an ApplicationError with a
code, retryable unless retrying cannot help, so Temporal retries the attempt under the node's policy with
the same event id.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime
from typing import Any

import httpx
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import KafkaError, KafkaException, Producer
from kubernetes import client as k8s

from . import http_client
from .egress import EgressPolicy
from .messages import EmitRequest

DELIVERY_TIMEOUT_SECONDS = 30.0
"""How long one attempt waits for the broker's acknowledgement."""
_FORMAT = JSONFormat()
PERMANENT = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._INVALID_ARG})
"""Delivery errors a retry cannot mend."""


def cloud_event(request: EmitRequest, attempt: int) -> CloudEvent:
    """The request's CloudEvent (JSON data)."""
    attributes: dict[str, Any] = {**request.attributes, "specversion": "1.0", "datacontenttype": "application/json"}
    attributes["time"] = datetime.fromisoformat(request.attributes["time"])
    try:
        return CloudEvent(attributes, request.data)
    except BaseCloudEventException as exc:
        raise http_client.failure("INVALID_EVENT", str(exc), retryable=False, attempt=attempt) from None


class EventSink:
    """Kafka producer (created on first use) and HTTP client of one worker process."""

    def __init__(
        self, kafka_bootstrap: str | None, http: httpx.AsyncClient, egress: EgressPolicy, core: k8s.CoreV1Api | None
    ) -> None:
        self.kafka_bootstrap = kafka_bootstrap
        self.http = http
        self.egress = egress
        self.core = core
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    async def publish(self, request: EmitRequest, attempt: int) -> dict[str, Any]:
        """Send the event; `{id, topic, partition, offset}` or `{id, status}`."""
        event = cloud_event(request, attempt)
        if request.topic is not None:
            partition, offset = await asyncio.get_running_loop().run_in_executor(
                None, self._produce, event, request, attempt
            )
            return {"id": event.get_id(), "topic": request.topic, "partition": partition, "offset": offset}
        assert request.http is not None
        post = request.http.model_copy(update={"body": json.loads(ce_http.to_structured(event, _FORMAT).body)})
        await http_client.check_egress(post.url, self.egress, attempt)
        secrets = await http_client.secret_headers(self.core, post, attempt)
        answer = await http_client.send(self.http, post, secrets, attempt)
        return {"id": event.get_id(), "status": answer["status"]}

    def _producer_for(self, attempt: int) -> Producer:
        if not self.kafka_bootstrap:
            raise http_client.failure("KAFKA_NOT_CONFIGURED", "the worker has no DRIFT_KAFKA_BOOTSTRAP",
                                      retryable=False, attempt=attempt)  # fmt: skip
        with self._lock:
            if self._producer is None:
                self._producer = Producer({"bootstrap.servers": self.kafka_bootstrap, "enable.idempotence": True,
                                           "acks": "all", "linger.ms": 2,
                                           "message.timeout.ms": int(DELIVERY_TIMEOUT_SECONDS * 1000)})  # fmt: skip
            return self._producer

    def _produce(self, event: CloudEvent, request: EmitRequest, attempt: int) -> tuple[int, int]:
        """Blocking: produce one message and serve delivery reports until its own arrives."""
        producer = self._producer_for(attempt)
        message = ce_kafka.to_binary(event, _FORMAT, key_mapper=lambda _: request.key)
        done = threading.Event()
        report: dict[str, Any] = {}

        def delivered(error: Any, sent: Any) -> None:
            report.update(error=error, sent=sent)
            done.set()

        try:
            producer.produce(request.topic, value=message.value, key=message.key, headers=list(message.headers.items()),
                             on_delivery=delivered)  # fmt: skip
        except (KafkaException, BufferError) as exc:
            raise http_client.failure("KAFKA_ERROR", str(exc), retryable=True, attempt=attempt) from None
        deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS + 5
        while not done.is_set():
            if time.monotonic() > deadline:
                raise http_client.failure("TIMEOUT", "no acknowledgement from Kafka", retryable=True, attempt=attempt)
            producer.poll(0.05)
        error = report["error"]
        if error is not None:
            raise http_client.failure("KAFKA_ERROR", f"{error.name()}: {error.str()}",
                                      retryable=error.code() not in PERMANENT, attempt=attempt)  # fmt: skip
        return report["sent"].partition(), report["sent"].offset()

    def close(self) -> None:
        """Deliver what is still queued (bounded) before the process ends."""
        if self._producer is not None:
            self._producer.flush(5)
