"""The WorkflowRun status as a pure function of what the operator observed (no I/O, table-tested).

Phases, reasons and conditions (Tekton style, API.md's table):

| phase | reasons | Succeeded | Ready | Reconciling | Stalled |
|---|---|---|---|---|---|
| Pending | `Starting`, `WorkflowNotFound`, `WorkflowNotReady`, `*Unavailable` | Unknown | False | True | False |
| Running | `Running` | Unknown | False | True | False |
| Waiting | `WaitingForInput` | Unknown | False | True | False |
| Succeeded | `Succeeded` | True | True | False | False |
| Failed | `Failed`, `InvalidInput`, `Terminated` | False | False | False | True |
| TimedOut | `TimedOut` | False | False | False | True |
| Cancelled | `Cancelled` | False | False | False | True |

Event-only reason (a Kubernetes Event, never a condition): `ResumeRefused`. Phase changes are Events too
(reason: the new phase).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drift.conditions import (
    READY,
    RECONCILING,
    STALLED,
    SUCCEEDED,
    Desired,
    parse_timestamp,
    set_conditions,
    timestamp,
)
from drift.models.run import FINAL_PHASES, MAX_STATUS_NODES, Phase
from drift.run_contract import RunSnapshot
from drift.run_observation import closed_phase

PHASE_REASONS: dict[str, str] = {"Running": "Running", "Waiting": "WaitingForInput", "Pending": "Starting"}


@dataclass(frozen=True)
class Observed:
    """What the operator knows about one run when it writes its status."""

    snapshot: RunSnapshot | None = None
    """The newest snapshot seen (Redis event, `snapshot` query or the workflow's result)."""
    started: bool = False
    """The Temporal execution exists."""
    closed: str | None = None
    """Temporal's close status name (COMPLETED, FAILED, TIMED_OUT, CANCELED, TERMINATED); None while open."""
    closed_at: datetime | None = None
    """Temporal's close time."""
    detail: str | None = None
    """Why it is blocked or failed (WorkflowNotFound, InvalidInput, a FAILED execution's failure)."""
    blocked: str | None = None
    """Reason the run cannot start: InvalidInput (Failed), else it stays Pending (WorkflowNotFound,
    WorkflowNotReady, a backend's `...Unavailable`)."""
    notice: str | None = None
    """A message that takes precedence for this write (e.g. a refused resume entry)."""


def phase_of(observed: Observed) -> tuple[Phase, str]:
    """(phase, reason) of the run."""
    snapshot = observed.snapshot
    if observed.closed:
        return closed_phase(observed.closed, snapshot)
    if observed.blocked == "InvalidInput":
        return "Failed", "InvalidInput"
    if not observed.started:
        return "Pending", observed.blocked or "Starting"
    # A snapshot that says the run ended counts once Temporal has recorded the end: until then the end may
    # still be lost (a Temporal server that died before it committed the workflow task that ended the run).
    phase = snapshot.phase if snapshot and snapshot.phase not in FINAL_PHASES else "Running"
    return phase, PHASE_REASONS.get(phase, phase)


def conditions_for(phase: Phase, reason: str, message: str) -> list[Desired]:
    """Succeeded/Ready/Reconciling/Stalled for a phase (API.md's table)."""
    if phase == "Succeeded":
        return [Desired(t, "True" if t in (SUCCEEDED, READY) else "False", reason, message) for t in _TYPES]
    if phase in FINAL_PHASES:
        return [
            Desired(SUCCEEDED, "False", reason, message),
            Desired(READY, "False", reason, message),
            Desired(RECONCILING, "False", reason, message),
            Desired(STALLED, "True", reason, message),
        ]
    return [
        Desired(SUCCEEDED, "Unknown", reason, message),
        Desired(READY, "False", reason, message),
        Desired(RECONCILING, "True", reason, message),
        Desired(STALLED, "False", reason, message),
    ]


_TYPES = (SUCCEEDED, READY, RECONCILING, STALLED)


def format_duration(seconds: float) -> str:
    """Go-style short duration: 350ms, 42s, 1m20s, 2h3m0s."""
    if seconds < 1:
        return f"{max(int(seconds * 1000), 0)}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _default_message(phase: Phase, observed: Observed) -> str:
    snapshot = observed.snapshot
    if observed.detail and (phase in ("Pending", "Failed") or observed.closed):
        return observed.detail
    if snapshot and snapshot.error and phase == "Failed":
        node = f" at node {snapshot.error.node}" if snapshot.error.node else ""
        return f"{snapshot.error.code}{node}: {snapshot.error.message}".rstrip(": ")
    if phase == "Waiting" and snapshot and snapshot.waiting_for:
        return f"Waiting for input on {snapshot.waiting_for.node}"
    if phase == "Running" and snapshot and snapshot.current_node:
        return f"Running {snapshot.current_node}"
    return {"Pending": "Starting", "TimedOut": "The run timed out", "Cancelled": "The run was cancelled"}.get(
        phase, phase
    )


def _time(value: datetime | None) -> str | None:
    return timestamp(value) if value else None


def run_status(
    observed: Observed, previous: Mapping[str, Any], generation: int | None, now: datetime
) -> dict[str, Any]:
    """The status merge patch (None deletes a field) for `observed`, given the current `previous` status."""
    phase, reason = phase_of(observed)
    snapshot = observed.snapshot
    final = phase in FINAL_PHASES
    patch: dict[str, Any] = {"phase": phase, "observedGeneration": generation}
    if snapshot is not None:
        patch |= {
            "currentNode": None if final else snapshot.current_node,
            "nodesCompleted": snapshot.nodes_completed,
            "waitingFor": snapshot.waiting_for.wire() if snapshot.waiting_for and not final else None,
            "active": None if final else [cursor.wire() for cursor in snapshot.active] or None,
            "waiting": None if final else [waiting.wire() for waiting in snapshot.waiting] or None,
            "maps": None if final else [progress.wire() for progress in snapshot.maps] or None,
            "compensations": [compensation.wire() for compensation in snapshot.compensations] or None,
            "nodes": [node.wire() for node in snapshot.nodes[-MAX_STATUS_NODES:]],
            "output": snapshot.output,
            "error": snapshot.error.wire() if snapshot.error else None,
        }
    elif final:
        patch |= {"currentNode": None, "waitingFor": None, "active": None, "waiting": None, "maps": None}
    started_at = (snapshot.started_at if snapshot else None) or parse_timestamp(previous.get("startedAt"))
    if started_at:
        patch["startedAt"] = _time(started_at)
    if final:
        finished_at = (
            (snapshot.finished_at if snapshot else None)
            or observed.closed_at
            or parse_timestamp(previous.get("finishedAt"))
            or now
        )
        patch["finishedAt"] = _time(finished_at)
        if started_at:
            patch["duration"] = format_duration((finished_at - started_at).total_seconds())
    message = observed.notice or (snapshot.message if snapshot and snapshot.message else None)
    message = message or _default_message(phase, observed)
    patch["message"] = message
    patch["conditions"] = set_conditions(
        previous.get("conditions"), conditions_for(phase, reason, message), generation, now
    )
    return patch


def changes(patch: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a merge patch that would change `previous` (empty: nothing to write)."""
    return {key: value for key, value in patch.items() if previous.get(key) != value}
