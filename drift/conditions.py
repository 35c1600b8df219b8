"""The one helper that sets `metav1.Condition`s on a status, for every kind (Flux's conditions library).

Setting a condition stamps `observedGeneration`; `lastTransitionTime` changes only when `status` does.
Conditions are handled in their wire form (camelCase dicts), as they are read from and patched onto objects.

Reasons are API. Definitions (NodeDefinition, Workflow): `Synced`, `Reconciling`, `InvalidDefinition`, a
validation problem's reason (`UnknownNodeRef`, `UnreachableNode`, ...), `HBaseUnavailable`,
`RedisUnavailable`, `VersionConflict`. WorkflowRun: see `drift_operator.run_status`; WorkflowSchedule:
`drift_operator.schedule_status`; WorkflowTrigger: `drift_operator.trigger_status` and (`Consuming`)
`drift_events.kafka_consumers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .models.common import ConditionStatus

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
SUCCEEDED = "Succeeded"
CONSUMING = "Consuming"
"""A Kafka WorkflowTrigger's: whether drift-events reads its topic."""


@dataclass(frozen=True)
class Desired:
    """The state one condition should have."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: Any) -> datetime | None:
    """A Kubernetes time (RFC 3339) as an aware datetime; None for anything else."""
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def set_conditions(
    existing: Sequence[Mapping[str, Any]] | None,
    desired: Iterable[Desired],
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """`existing` with every `desired` condition set; conditions of other types are kept, in order."""
    result = [dict(condition) for condition in existing or ()]
    by_type = {condition.get("type"): condition for condition in result}
    for want in desired:
        current = by_type.get(want.type)
        changed = current is None or current.get("status") != want.status
        condition = {
            "type": want.type,
            "status": want.status,
            "reason": want.reason,
            "message": want.message,
            "lastTransitionTime": timestamp(now) if changed else current["lastTransitionTime"],  # type: ignore[index]
            "observedGeneration": generation,
        }
        if generation is None:
            del condition["observedGeneration"]
        if current is None:
            result.append(condition)
            by_type[want.type] = condition
        else:
            current.clear()
            current.update(condition)
    return result


def definition_conditions(ready: bool, reconciling: bool, reason: str, message: str) -> list[Desired]:
    """Ready/Reconciling/Stalled of a NodeDefinition, Workflow or WorkflowSchedule; never Reconciling and
    Stalled both True.

    `ready`: stored and announced (a schedule: in place on Temporal). `reconciling`: work is under way.
    Otherwise the object is stalled.
    """
    stalled = not ready and not reconciling
    return [
        Desired(READY, "True" if ready else "False", reason, message),
        Desired(RECONCILING, "True" if reconciling else "False", reason, message),
        Desired(STALLED, "True" if stalled else "False", reason, message),
    ]
