"""What a run shows while several cursors move: active nodes, waiting instructions, maps, compensations.

Workflow-side state (deterministic), turned into bounded status lists for every snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from drift.models.run import MAX_STATUS_CURSORS, ActiveNode, CompensationStatus, MapProgress, WaitingFor

Key = tuple[str, str]
"""(instance path, node name); the path is "" on the main path."""


@dataclass
class MapCounter:
    """A map node's item counts."""

    total: int
    succeeded: int = 0
    running: int = 0
    failed: int = 0


@dataclass
class CompensationRecord:
    """One compensation and its outcome so far."""

    node: str
    undoes: str
    path: str
    phase: Literal["Running", "Succeeded", "Failed"] = "Running"
    message: str | None = None


@dataclass
class Cursors:
    """Every cursor besides the main path's current node."""

    active: dict[Key, datetime] = field(default_factory=dict)
    waiting: dict[Key, WaitingFor] = field(default_factory=dict)
    maps: dict[Key, MapCounter] = field(default_factory=dict)
    forks: dict[Key, int] = field(default_factory=dict)
    compensations: list[CompensationRecord] = field(default_factory=list)

    def enter(self, path: str, node: str, since: datetime) -> None:
        """A node of a branch, item or compensation started (main-path nodes are the run's current node)."""
        if path:
            self.active[(path, node)] = since

    def leave(self, path: str, node: str) -> None:
        self.active.pop((path, node), None)
        self.waiting.pop((path, node), None)

    def wait(self, path: str, waiting: WaitingFor) -> None:
        """An instruction at `path` waits for input."""
        self.active.pop((path, waiting.node), None)
        self.waiting[(path, waiting.node)] = waiting

    def resumed(self, path: str, node: str, since: datetime) -> None:
        self.waiting.pop((path, node), None)
        self.enter(path, node, since)

    def fork(self, path: str, node: str, branches: int) -> None:
        self.forks[(path, node)] = branches

    def unfork(self, path: str, node: str) -> None:
        self.forks.pop((path, node), None)

    def start_map(self, path: str, node: str, total: int) -> MapCounter:
        counter = self.maps[(path, node)] = MapCounter(total)
        return counter

    def end_map(self, path: str, node: str) -> None:
        self.maps.pop((path, node), None)

    def compensation(self, node: str, undoes: str, path: str) -> CompensationRecord:
        record = CompensationRecord(node, undoes, path)
        self.compensations.append(record)
        return record

    def running(self) -> bool:
        """Whether any cursor is running (not waiting for input)."""
        return bool(self.active)

    def summary(self, current: str | None) -> str | None:
        """The `Node` column: the main path's node, `checks: 2 branches` or `map notify 4210/5000`."""
        if current is None:
            return None
        if counter := self.maps.get(("", current)):
            return f"map {current} {counter.succeeded + counter.failed}/{counter.total}"
        if branches := self.forks.get(("", current)):
            return f"{current}: {branches} branches"
        return current

    def active_nodes(self) -> list[ActiveNode]:
        """The newest active nodes (at most MAX_STATUS_CURSORS)."""
        newest = sorted(self.active.items(), key=lambda entry: entry[1], reverse=True)[:MAX_STATUS_CURSORS]
        return [ActiveNode(node=node, path=path, since=since) for (path, node), since in newest]

    def waiting_list(self) -> list[WaitingFor]:
        return list(self.waiting.values())[:MAX_STATUS_CURSORS]

    def map_progress(self) -> list[MapProgress]:
        return [
            MapProgress(
                node=node, path=path or None, total=c.total, succeeded=c.succeeded, running=c.running, failed=c.failed
            )
            for (path, node), c in list(self.maps.items())[:MAX_STATUS_CURSORS]
        ]

    def compensation_list(self) -> list[CompensationStatus]:
        return [
            CompensationStatus(node=r.node, undoes=r.undoes, path=r.path or None, phase=r.phase, message=r.message)
            for r in self.compensations[-MAX_STATUS_CURSORS:]
        ]
