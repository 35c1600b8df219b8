"""How many runs' status writes go to the API server at once, and which run writes next.

A controller's work queue, as client-go's: a run waits for a slot with nothing computed yet, and computes its
patch once it holds one, so the snapshots that arrive while it waits are folded into that one patch instead of
queuing a patch each behind the others. A run whose news is at rest (Waiting, finished: what `kubectl wait`
and a person wait for) goes before one reporting progress (Running, a reconcile's start), also when it turns
at rest while waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable

from drift.metrics import STATUS_WRITES_WAITING

STATUS_WRITES_AT_ONCE = 8
"""Patches in flight: enough to keep the API server busy, few enough that a queued run is not behind hundreds
of patches (each waits on the API server's CPU, and every one computed early is a write that coalescing would
have saved)."""


class StatusQueue:
    """Slots for status writes, granted to runs at rest first, then in arrival order."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._at_rest: dict[Hashable, asyncio.Future[None]] = {}
        self._progress: dict[Hashable, asyncio.Future[None]] = {}
        STATUS_WRITES_WAITING.set_function(lambda: len(self._at_rest) + len(self._progress))

    @contextlib.asynccontextmanager
    async def slot(self, key: Hashable, *, at_rest: bool) -> AsyncIterator[None]:
        """Hold one slot for the run `key` (one waiter per key); `at_rest` puts it ahead of progress."""
        if self._free > 0 and not self._at_rest and not self._progress:
            self._free -= 1
        else:
            granted = asyncio.get_running_loop().create_future()
            (self._at_rest if at_rest else self._progress)[key] = granted
            try:
                await granted
            except asyncio.CancelledError:
                self._at_rest.pop(key, None)
                self._progress.pop(key, None)
                if granted.done() and not granted.cancelled():  # granted as it was cancelled: pass it on
                    self._release()
                raise
        try:
            yield
        finally:
            self._release()

    def promote(self, key: Hashable) -> None:
        """The waiting run `key` now has news at rest: it moves ahead of the runs reporting progress."""
        granted = self._progress.pop(key, None)
        if granted is not None:
            self._at_rest[key] = granted

    def _release(self) -> None:
        for waiting in (self._at_rest, self._progress):
            while waiting:
                granted = waiting.pop(next(iter(waiting)))
                if not granted.done():
                    granted.set_result(None)
                    return
        self._free += 1
