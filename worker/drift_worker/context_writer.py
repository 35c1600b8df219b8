"""A run's context writes to HBase, coalesced per run: the newest waiting write goes out, the older are covered.

The workflow starts one persist after each node without waiting for it (workflow.py), so a chain of pure nodes
hands this worker several contexts of one run at once. They all go to the same HBase cell, which keeps only the
highest sequence; written one by one they queue on the row's lock at the region server (a 10-node chain's
eleven writes took about 60 ms each). Here one write of a run is in flight at a time, and the next one takes
the newest context handed in meanwhile. Each caller returns once a context at least as new as its own is
stored, so "persisted after node k" keeps its meaning; a context that was superseded before it could be
written is never written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class ContextStore(Protocol):
    """Where contexts are stored (drift.storage.hbase.HBaseStore)."""

    async def put_context(
        self, execution_id: str, body: bytes, sequence: int, finished_at: datetime | None = None
    ) -> None: ...


@dataclass(frozen=True)
class _Context:
    sequence: int
    body: bytes
    finished_at: datetime | None
    """Set on a run's last context: when it ended, recorded in the same write."""


@dataclass(eq=False)
class _Row:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    newest: _Context | None = None
    """The newest context handed in and not written yet."""
    stored: int = -1
    """The highest sequence written by this worker."""
    callers: int = 0


class ContextWriter:
    """Coalesced context writes, per run (one instance per worker process)."""

    def __init__(self, store: ContextStore) -> None:
        self._store = store
        self._rows: dict[str, _Row] = {}

    async def write(self, workflow_id: str, body: bytes, sequence: int, finished_at: datetime | None = None) -> None:
        """Return once the run's context of `sequence`, or a newer one, is stored (`finished_at`: this is the run's
        last context, and it ended then); raise what the store raised if the write that would have covered it
        failed (the context stays queued for the next caller)."""
        row = self._rows.setdefault(workflow_id, _Row())
        row.callers += 1
        context = _Context(sequence, body, finished_at)
        try:
            if row.newest is None or sequence > row.newest.sequence:
                row.newest = context
            async with row.lock:
                if row.stored >= sequence:
                    return
                newest = row.newest if row.newest and row.newest.sequence >= sequence else context
                row.newest = None
                try:
                    await self._store.put_context(workflow_id, newest.body, newest.sequence, newest.finished_at)
                except BaseException:
                    if row.newest is None or row.newest.sequence < newest.sequence:
                        row.newest = newest
                    raise
                row.stored = max(row.stored, newest.sequence)
        finally:
            row.callers -= 1
            if not row.callers:
                del self._rows[workflow_id]
