"""What every Drift Kafka consumer group member shares (drift-events' trigger consumers, the worker's
event dispatcher)."""

from __future__ import annotations

from typing import Any

CONSUMER_CONFIG: dict[str, Any] = {
    "enable.auto.commit": False,
    "session.timeout.ms": 10_000,
    "topic.metadata.refresh.interval.ms": 10_000,
}
"""Offsets are committed by hand, after the work (at least once). A member that stops heartbeating leaves
the group after 10 s, not librdkafka's 45 s: a replacement for a crashed process gets its partitions that
much sooner (measured by the event fault tests: 14-32 s from a restarted drift-events to its next run). A
subscribed topic that does not exist yet (a trigger applied before anything was published) is looked for
every 10 s, not librdkafka's 5 minutes: its first records start runs seconds after the topic appears."""
