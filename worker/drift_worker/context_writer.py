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
from typing import Protocol


class ContextStore(Protocol):
    """Where contexts are stored (drift.storage.hbase.HBaseStore)."""

    async def put_context(self, execution_id: str, body: bytes, sequence: int) -> None: ...


@dataclass(eq=False)
class _Row:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    newest: tuple[int, bytes] | None = None
    """The newest context handed in and not written yet: (sequence, body)."""
    stored: int = -1
    """The highest sequence written by this worker."""
    callers: int = 0


class ContextWriter:
    """Coalesced context writes, per run (one instance per worker process)."""

    def __init__(self, store: ContextStore) -> None:
        self._store = store
        self._rows: dict[str, _Row] = {}

    async def write(self, workflow_id: str, body: bytes, sequence: int) -> None:
        """Return once the run's context of `sequence`, or a newer one, is stored; raise what the store raised
        if the write that would have covered it failed (the context stays queued for the next caller)."""
        row = self._rows.setdefault(workflow_id, _Row())
        row.callers += 1
        try:
            if row.newest is None or sequence > row.newest[0]:
                row.newest = (sequence, body)
            async with row.lock:
                if row.stored >= sequence:
                    return
                newest = row.newest if row.newest and row.newest[0] >= sequence else (sequence, body)
                row.newest = None
                try:
                    await self._store.put_context(workflow_id, newest[1], newest[0])
                except BaseException:
                    if row.newest is None or row.newest[0] < newest[0]:
                        row.newest = newest
                    raise
                row.stored = max(row.stored, newest[0])
        finally:
            row.callers -= 1
            if not row.callers:
                del self._rows[workflow_id]
