"""A trigger's status counters: counted per event in memory, added to the status at most every 5 s, with
the `Consuming` condition its Kafka consumer last reported (`kafka_consumers.probe`).

Every replica adds its own counts: it reads the status, adds what it counted since its last write and
patches with the object's resourceVersion as a precondition; on a conflict (another replica wrote first)
the counts stay and go out with the next write. etcd sees at most one write per trigger per replica per
interval, whatever the event rate.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from drift.conditions import Desired, parse_timestamp, set_conditions, timestamp
from drift.kube_client import Kube, KubeError
from drift.metrics import TRIGGER_EVENTS
from drift.models.resources import WORKFLOW_TRIGGER
from drift.models.trigger import MAX_LAST_RUNS

from .outcomes import Outcome

log = logging.getLogger(__name__)
COUNTED = {"filtered": "filtered", "started": "started", "duplicate": "duplicates", "failed": "failed"}
"""Outcome -> status field."""
FIELDS = ("received", *COUNTED.values(), "unrecorded")


@dataclass
class Pending:
    """Counts of one trigger (one uid) not written yet."""

    uid: str
    counts: Counter[str] = field(default_factory=Counter)
    last_event: datetime | None = None
    runs: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LAST_RUNS))
    """Newest last."""
    source: tuple[int, Desired] | None = None
    """The trigger generation its consumer served and the condition it reported, if it reported one."""

    def added_to(self, status: dict[str, Any]) -> dict[str, Any]:
        """The status fields with these counts added (and the source's condition set)."""
        fields: dict[str, Any] = {name: int(status.get(name) or 0) + self.counts[name] for name in FIELDS}
        previous = parse_timestamp(status.get("lastEventTime"))
        if self.last_event and (previous is None or self.last_event > previous):
            fields["lastEventTime"] = timestamp(self.last_event)
        if self.runs:
            newest = list(reversed(self.runs))
            fields["lastRuns"] = (newest + [r for r in status.get("lastRuns") or () if r not in newest])[:MAX_LAST_RUNS]
        if self.source:
            generation, condition = self.source
            fields["conditions"] = set_conditions(status.get("conditions"), [condition], generation, datetime.now(UTC))
        return fields


class TriggerCounters:
    """Counts per trigger, and the loop that writes them."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        self._pending: dict[tuple[str, str], Pending] = {}

    def _of(self, namespace: str, name: str, uid: str) -> Pending:
        pending = self._pending.get((namespace, name))
        if pending is None or pending.uid != uid:
            pending = self._pending[(namespace, name)] = Pending(uid)
        return pending

    def received(self, namespace: str, name: str, uid: str) -> None:
        """An event arrived."""
        pending = self._of(namespace, name, uid)
        pending.counts["received"] += 1
        pending.last_event = datetime.now(UTC)

    def unrecorded(self, namespace: str, name: str, uid: str) -> None:
        """A run that was to be recorded stayed Temporal-only (the record rate was reached)."""
        self._of(namespace, name, uid).counts["unrecorded"] += 1

    def source(self, namespace: str, name: str, uid: str, generation: int, condition: Desired) -> None:
        """The trigger's Kafka consumer (serving `generation`) reports a changed `Consuming` condition."""
        self._of(namespace, name, uid).source = (generation, condition)

    def outcome(self, namespace: str, name: str, uid: str, outcome: Outcome, source: str) -> None:
        """What the event did (`source`: kafka or http, for the process's metrics)."""
        TRIGGER_EVENTS.labels(source, outcome.kind).inc()
        pending = self._of(namespace, name, uid)
        pending.counts[COUNTED[outcome.kind]] += 1
        if outcome.kind == "started" and outcome.run:
            pending.runs.append(outcome.run)

    async def write(self) -> None:
        """Add every trigger's counts to its status (one patch each); what could not be written stays."""
        batch, self._pending = self._pending, {}
        for (namespace, name), pending in batch.items():
            try:
                written = await self._write(namespace, name, pending)
            except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("status of trigger %s/%s not written now: %s", namespace, name, exc)
                written = False
            if not written:
                self._merge_back(namespace, name, pending)

    async def _write(self, namespace: str, name: str, pending: Pending) -> bool:
        body = await self._kube.get(WORKFLOW_TRIGGER.plural, namespace, name)
        if body is None or body["metadata"]["uid"] != pending.uid:
            return True  # gone or re-created: its counts go with it
        meta = body["metadata"]
        try:
            status = pending.added_to(body.get("status") or {})
            await self._kube.patch_status(WORKFLOW_TRIGGER.plural, namespace, name, status, meta["resourceVersion"])
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def _merge_back(self, namespace: str, name: str, pending: Pending) -> None:
        newer = self._pending.get((namespace, name))
        if newer is not None and newer.uid != pending.uid:
            return  # re-created since: the old object's counts go with it
        if newer is not None:
            pending.counts.update(newer.counts)
            pending.last_event = max(filter(None, (pending.last_event, newer.last_event)), default=None)
            pending.runs.extend(newer.runs)
            pending.source = newer.source or pending.source
        self._pending[(namespace, name)] = pending

    async def run(self, interval: float) -> None:
        """Write every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.write()
