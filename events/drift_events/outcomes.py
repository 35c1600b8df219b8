"""What an event did: the one result type of the starter, the receiver and the Kafka consumers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OutcomeKind = Literal["filtered", "started", "duplicate", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What an event did."""

    kind: OutcomeKind
    detail: str = ""
    run: str | None = None
    """The run's name (started or duplicate)."""
    workflow_id: str | None = None
