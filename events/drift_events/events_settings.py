"""drift-events' settings, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from drift.observability import metrics_port
from drift.settings import BackendSettings, backend_settings

MAX_BODY_BYTES = 1024 * 1024
"""A CloudEvent posted with a larger body is refused (413)."""


@dataclass(frozen=True)
class EventsSettings(BackendSettings):
    """Endpoints and drift-events' own timings."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    """DRIFT_KAFKA_BOOTSTRAP: the brokers, host:port[,host:port...]."""
    receiver_port: int = 8080
    """DRIFT_EVENTS_PORT: the CloudEvents receiver (POST /triggers/{namespace}/{name})."""
    metrics_port: int = 9090
    """DRIFT_METRICS_PORT: /metrics, /healthz and /readyz."""
    watch_namespace: str | None = None
    """DRIFT_WATCH_NAMESPACE: serve only this namespace's triggers; unset: the whole cluster."""
    resync_seconds: float = 2.0
    """The triggers are listed this often (a new or changed trigger is served within this time)."""
    status_seconds: float = 5.0
    """A trigger's status counters are written at most this often."""
    secret_seconds: float = 10.0
    """A Secret a receiver checks senders against is read again after this long (rotations apply then)."""
    retry_seconds: float = 1.0
    """First wait before an event is tried again (Temporal, HBase or Redis down, Workflow not Ready); it
    doubles up to 30 s."""
    record_per_second: float = 20.0
    """DRIFT_TRIGGER_RECORD_PER_SECOND: WorkflowRuns created for recorded runs per second at most (per
    replica); past it a run stays Temporal-only and is counted `unrecorded`."""
    batch: int = 200
    """Kafka records taken per poll; their runs start concurrently, and the offsets are committed after."""


def load(env: Mapping[str, str] = os.environ) -> EventsSettings:
    """Settings from DRIFT_* variables; defaults match the local stack."""
    return EventsSettings(
        **backend_settings(env),  # type: ignore[arg-type]
        kafka_bootstrap=env.get("DRIFT_KAFKA_BOOTSTRAP", EventsSettings.kafka_bootstrap),
        receiver_port=int(env.get("DRIFT_EVENTS_PORT", EventsSettings.receiver_port)),
        metrics_port=metrics_port(env),
        watch_namespace=env.get("DRIFT_WATCH_NAMESPACE") or None,
        record_per_second=float(env.get("DRIFT_TRIGGER_RECORD_PER_SECOND", EventsSettings.record_per_second)),
    )
