"""The slow safety net of every unfinished run: one rate-limited loop instead of a kopf timer per run.

A run is resynced (reconciled with `observe`: a Pending start retried, a started run compared with Temporal)
`resync_seconds` after it was first seen and after each resync, `pending_retry_seconds` while it is Pending,
and after a failed attempt the delay the failure asks for. At most `resync_per_second` runs are resynced per
second, the most overdue first, so the cost of the safety net is bounded whatever the number of runs: a kopf
timer per run made the idle operator's CPU grow with the runs in flight (about 5 % of a core per 1,000
waiting runs, two thirds of it in the timers' Temporal describes), where the goal is under 5 % at 10,000.
"""

from __future__ import annotations

import asyncio
import time

import kopf

from .clients import Services
from .run_reconcile import attempt
from .run_registry import RunState

TICK_SECONDS = 1.0


def due(states: list[RunState], now: float, budget: int) -> list[RunState]:
    """The runs to resync now: those whose time has come, the most overdue first, at most `budget` (pure)."""
    ready = [state for state in states if state.resync_at <= now]
    ready.sort(key=lambda state: state.resync_at)
    return ready[:budget]


class Resync:
    """Resyncs the operator's unfinished runs (run until cancelled); `stalled` is the stalled_workflows index."""

    def __init__(self, services: Services, stalled: kopf.Index) -> None:
        self.services = services
        self.stalled = stalled
        self._budget = 0.0

    async def run(self) -> None:
        per_second = self.services.settings.resync_per_second
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self._budget = min(self._budget + per_second * TICK_SECONDS, per_second)
            batch = due(self.services.runs.states(), time.monotonic(), int(self._budget))
            self._budget -= len(batch)
            await asyncio.gather(*(self.one(state) for state in batch))

    async def one(self, state: RunState) -> None:
        """Resync one run and set when it is next due."""
        settings = self.services.settings
        retry = await attempt(state.body, self.services, self.stalled, observe=True)
        delay = settings.resync_seconds if retry is None else retry
        if not state.intended.get("execution"):
            delay = min(delay, settings.pending_retry_seconds)
        state.resync_at = time.monotonic() + delay
