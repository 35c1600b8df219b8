"""Finished runs past their TTL are deleted: one schedule and one loop for all of them.

A kopf daemon per finished run held a task for each of them, and made kopf put its finalizer on every run.
Here `schedule` records when a run is due (from its watch events: `status.finishedAt` plus its TTL), and `run`
deletes the due runs a second at a time, a few at once, each only if it is still the object with that uid.
A deletion that fails is tried again `RETRY_SECONDS` later; one deleted by someone else is dropped by its
DELETED event (`discard`). Restarts keep the schedule: the watch's first listing schedules every finished run
again from its `finishedAt`.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time

import aiohttp

from drift.kube_client import Kube, KubeError
from drift.models.resources import WORKFLOW_RUN

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
RETRY_SECONDS = 5.0
CONCURRENCY = 4


class RunExpiry:
    """When each finished run with a TTL is due for deletion (wall-clock seconds), and the loop that deletes it."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._due: dict[str, float] = {}
        """uid -> when it is due; the heap may hold older entries of a uid, skipped when popped."""
        self._heap: list[tuple[float, str, str, str]] = []

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, namespace: str, name: str, uid: str, due: float) -> None:
        """Delete the run `uid` at `due` (time.time()); scheduling it again with another time moves it."""
        if self._due.get(uid) != due:
            self._due[uid] = due
            heapq.heappush(self._heap, (due, uid, namespace, name))

    def discard(self, uid: str) -> None:
        """The run is gone: nothing to delete."""
        self._due.pop(uid, None)

    def take(self, now: float) -> list[tuple[str, str, str]]:
        """(namespace, name, uid) of the runs due at `now`, no longer scheduled."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            at, uid, namespace, name = heapq.heappop(self._heap)
            if self._due.get(uid) == at:
                del self._due[uid]
                due.append((namespace, name, uid))
        return due

    async def run(self) -> None:
        """Forever: delete the runs that are due."""
        gate = asyncio.Semaphore(CONCURRENCY)
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await asyncio.gather(*(self._delete(gate, *run) for run in self.take(time.time())))

    async def _delete(self, gate: asyncio.Semaphore, namespace: str, name: str, uid: str) -> None:
        async with gate:
            try:
                await self.kube.delete(WORKFLOW_RUN.plural, namespace, name, uid)
            except (KubeError, aiohttp.ClientError, OSError) as exc:
                log.warning("expired run %s/%s not deleted (%s); retrying", namespace, name, exc)
                self.schedule(namespace, name, uid, time.time() + RETRY_SECONDS)
