"""Catch up on runs whose snapshots may have been missed: re-read them from Temporal.

Redis pub/sub keeps nothing for an absent subscriber, so the snapshots published while the operator's
subscription was down (a Redis restart, a lost connection) are gone; without this, those runs' status would
wait for their resync (a minute). `CatchUp.request()` is called by the subscriber on every resubscription;
one pass observes the runs a few at a time (`concurrency`), and a request during a pass runs one more after it.
The same holds for a run found started when the operator starts: `observe_soon` re-reads it in the background.
Both are reads that the next operator repeats, so `stop_observing` cancels them when the operator stops.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from temporalio.service import RPCError

from drift.errors import BackendUnavailable
from drift.kube_client import KubeError
from drift.metrics import RUNS_CATCHING_UP

from .clients import Services
from .run_reconcile import refresh
from .run_registry import RunState

log = logging.getLogger(__name__)
_observing: set[asyncio.Task[None]] = set()
"""The background re-reads under way (first sights, catch-up passes)."""


def _keep(task: asyncio.Task[None]) -> asyncio.Task[None]:
    _observing.add(task)
    task.add_done_callback(_observing.discard)
    return task


def observe_soon(state: RunState, services: Services) -> None:
    """Re-read a run found started at the operator's start (nothing in its spec waits) in the background, a few
    at once (`services.first_sight`): after a restart with many runs, none of them holds up another's events,
    nor its own next one (a resume)."""
    _keep(asyncio.create_task(_observe(state, services, services.first_sight), name=f"observe {state.workflow_id}"))


async def stop_observing() -> None:
    """Cancel the re-reads under way (the operator stops; its successor reads every run again)."""
    tasks = list(_observing)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _observe(state: RunState, services: Services, gate: asyncio.Semaphore) -> None:
    RUNS_CATCHING_UP.inc()
    try:
        async with gate:
            await refresh(state, services)
    except (RPCError, BackendUnavailable, KubeError, aiohttp.ClientError, OSError) as exc:
        log.warning("catch-up of %s failed (%s); its resync covers it", state.workflow_id, exc)
    finally:
        RUNS_CATCHING_UP.dec()


class CatchUp:
    """Passes over the operator's unfinished runs, one at a time, each observing `concurrency` runs at once."""

    def __init__(self, services: Services, concurrency: int = 8) -> None:
        self.services = services
        self.concurrency = concurrency
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> asyncio.Task[None]:
        """Start a pass now, or one more after the pass under way (it may have read a run before the gap); the
        task that covers the request."""
        if self._task is None or self._task.done():
            self._task = _keep(asyncio.create_task(self._passes(), name="run events catch-up"))
        else:
            self._again = True
        return self._task

    async def _passes(self) -> None:
        while True:
            self._again = False
            await self._pass()
            if not self._again:
                return

    async def _pass(self) -> None:
        states = self.services.runs.states()
        log.info("run events resubscribed: re-reading %d unfinished runs from Temporal", len(states))
        gate = asyncio.Semaphore(self.concurrency)
        await asyncio.gather(*(_observe(state, self.services, gate) for state in states))
