"""A WorkflowTrigger's conditions, a pure function of what the operator's check found.

Reasons are API: `Accepted` (Ready: drift-events serves the trigger), `InvalidExpression` and
`InvalidTrigger` (Stalled: a person must change the spec). A Kafka trigger's `Consuming` condition is
drift-events' to write while it serves the trigger (`drift_events.kafka_consumers`); here it is set False
(`NotServed`) while the trigger is Stalled, and removed when the trigger's source is no longer Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drift.conditions import CONSUMING, Desired, definition_conditions, set_conditions


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a trigger's spec."""

    reason: str
    message: str

    @property
    def ready(self) -> bool:
        return self.reason == "Accepted"


def trigger_status(
    checked: Checked, previous: Mapping[str, Any], generation: int | None, now: datetime, *, kafka: bool
) -> dict[str, Any]:
    """The status fields that change (observedGeneration and conditions); `kafka`: the source is a topic."""
    desired = definition_conditions(checked.ready, False, checked.reason, checked.message)
    if kafka and not checked.ready:
        desired.append(Desired(CONSUMING, "False", "NotServed", f"drift-events does not serve it: {checked.reason}"))
    existing = [c for c in previous.get("conditions") or () if kafka or c.get("type") != CONSUMING]
    status = {
        "observedGeneration": generation,
        "conditions": set_conditions(existing, desired, generation, now),
    }
    return {key: value for key, value in status.items() if previous.get(key) != value}
