"""A WorkflowTrigger's conditions, a pure function of what the operator's check found.

Reasons are API: `Accepted` (Ready: drift-events serves the trigger), `InvalidExpression` and
`InvalidTrigger` (Stalled: a person must change the spec).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drift.conditions import definition_conditions, set_conditions


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a trigger's spec."""

    reason: str
    message: str

    @property
    def ready(self) -> bool:
        return self.reason == "Accepted"


def trigger_status(
    checked: Checked, previous: Mapping[str, Any], generation: int | None, now: datetime
) -> dict[str, Any]:
    """The status fields that change (observedGeneration and conditions)."""
    status = {
        "observedGeneration": generation,
        "conditions": set_conditions(
            previous.get("conditions"),
            definition_conditions(checked.ready, False, checked.reason, checked.message),
            generation,
            now,
        ),
    }
    return {key: value for key, value in status.items() if previous.get(key) != value}
