"""The unfinished runs the operator holds, by Temporal workflow id, and what it holds about each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drift.models.resources import GROUP
from drift.run_contract import RunSnapshot, run_workflow_id, workflow_id

from .run_status import Observed

KEPT_METADATA = ("namespace", "name", "uid", "generation")
"""What a run's state keeps of its metadata (the resync reconciles with it), with its drift.dev annotations
(an adopted execution, a Workflow's trigger) but not the others (kubectl's last-applied copy of the run)."""


@dataclass(frozen=True)
class EndAhead:
    """A pending final snapshot's end, found before its write waited for a slot of the status queue."""

    snapshot: RunSnapshot
    confirmed: dict[str, Any]
    """Temporal's close of the run, as Observed fields ({} if Temporal did not confirm it)."""
    marked: bool
    """Whether the end was recorded beside the run's context."""


@dataclass(eq=False)
class RunState:
    """What the operator holds about one unfinished run."""

    namespace: str
    name: str
    uid: str
    workflow_id: str
    """Its execution's id: its own (drift.run_contract.workflow_id), or the one it adopts."""
    adopted: bool = False
    """The execution was started before the run was created (a trigger's recorded run): not started here."""
    generation: int | None = None
    status: dict[str, Any] = field(default_factory=dict)
    """The status as read at first sight, then as last written (the operator is its only writer)."""
    observed: Observed = field(default_factory=Observed)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held for every status write and every Temporal action on the run."""
    pending: RunSnapshot | None = None
    """The newest snapshot from the run events not written yet."""
    pending_since: float | None = None
    pending_epoch: int = -1
    """The run-events subscription epoch `pending` arrived in."""
    staged: dict[str, Any] = field(default_factory=dict)
    """Status fields a reconcile set that are not written yet (written with the next snapshot, or at `hold_until`)."""
    hold_until: float = 0.0
    """A staged write waits for the worker's next snapshot until then (monotonic), to go out as one patch."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a snapshot arrives (ends a hold)."""
    flusher: asyncio.Task[None] | None = None
    end_ahead: EndAhead | None = None
    end_recorded: int = -1
    """The sequence of the run's final snapshot whose end the worker recorded beside its context (none: -1)."""
    last_write: float = 0.0
    snapshot_epoch: int = -1
    """The subscription epoch of the snapshot applied last (-1: none from a live subscription)."""
    cancel_requested: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    """The metadata and spec last handed to a reconcile (what the resync reconciles with)."""
    resync_at: float = 0.0
    """When the resync looks at it next (monotonic)."""

    @property
    def body(self) -> dict[str, Any]:
        """The run as a reconcile takes it: its metadata and spec last seen, its status as intended."""
        return {"metadata": self.metadata, "spec": self.spec, "status": self.intended}

    @property
    def intended(self) -> dict[str, Any]:
        """The status as last written, with the fields staged since."""
        return self.status | self.staged

    @property
    def sequence(self) -> int:
        """Sequence of the newest snapshot known (pending or applied); -1 if none."""
        snapshot = self.pending or self.observed.snapshot
        return snapshot.sequence if snapshot else -1


class RunRegistry:
    """Unfinished runs by Temporal workflow id, and the ids of those whose end this operator wrote (until a watch
    event shows that end)."""

    def __init__(self, first_resync: float = 60.0) -> None:
        self._states: dict[str, RunState] = {}
        self._finished: set[str] = set()
        self.first_resync = first_resync
        """Seconds from a run's first sight to its first resync."""

    def __len__(self) -> int:
        return len(self._states)

    def states(self) -> list[RunState]:
        """Every run held now."""
        return list(self._states.values())

    def get(self, key: str) -> RunState | None:
        return self._states.get(key)

    def finished(self, key: str) -> bool:
        """This operator wrote the run's end (a watch event showing it unfinished is older than that write)."""
        return key in self._finished

    def track(self, body: Mapping[str, Any]) -> RunState:
        """The state of the run `body`: created (with the body's status) on first sight, its generation refreshed."""
        meta = body["metadata"]
        key = run_workflow_id(meta)
        state = self._states.get(key)
        if state is None:
            own = workflow_id(meta["namespace"], meta["name"], meta["uid"])
            status = plain(body.get("status") or {})
            state = RunState(meta["namespace"], meta["name"], meta["uid"], key, adopted=key != own, status=status)
            state.resync_at = time.monotonic() + self.first_resync
            self._states[key] = state
        state.generation = meta.get("generation")
        state.metadata = {name: plain(meta[name]) for name in KEPT_METADATA if name in meta}
        annotations = meta.get("annotations") or {}
        state.metadata["annotations"] = {k: v for k, v in annotations.items() if k.startswith(f"{GROUP}/")}
        state.spec = plain(body.get("spec") or {})
        return state

    def finish(self, key: str) -> None:
        """Drop a run whose end was written; remembered as finished until a watch event shows the end (or the run
        is deleted)."""
        self.forget(key)
        self._finished.add(key)

    def forget_finished(self, key: str) -> None:
        """Stop remembering that the run's end was written: a watch event showed the end, and a watch delivers
        an object's events in order, so every later event of the run is newer than that write."""
        self._finished.discard(key)

    def forget(self, key: str) -> None:
        """Drop a run (deleted, or gone when its status was written); its pending status flush stops."""
        self._finished.discard(key)
        state = self._states.pop(key, None)
        if state and state.flusher and state.flusher is not asyncio.current_task():
            state.flusher.cancel()


def plain(value: Any) -> Any:
    """A deep copy as plain dicts and lists (kopf hands out read-only views)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value
