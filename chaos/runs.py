"""The WorkflowRuns of one fault as the API server shows them, polled; instructions answered as they come."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

from kubernetes import client

from bench.kube_objects import GROUP, VERSION
from drift.models.run import FINAL_PHASES

from .workload import Expected

log = logging.getLogger("chaos")
REQUEST_TIMEOUT = (3, 10)
"""(connect, read) seconds: a poll during an API server outage fails fast instead of hanging."""

Signature = tuple[str | None, int, str | None, int]
"""What shows a run's progress: phase, nodes completed, the node it waits at, resume entries delivered."""


def signature(status: dict) -> Signature:
    waiting = (status.get("waitingFor") or {}).get("node")
    return status.get("phase"), status.get("nodesCompleted") or 0, waiting, status.get("resumesDelivered") or 0


@dataclass
class Batch:
    """The runs of one fault: the latest object of each (as last seen) and the answers given."""

    namespace: str
    expected: dict[str, Expected]
    objects: dict[str, dict] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    api: client.CustomObjectsApi = field(default_factory=client.CustomObjectsApi)
    pool: Executor | None = None
    """Where the answers are sent from (None: at once, on the caller's thread)."""

    def poll(self) -> bool:
        """Refresh every run and answer the instructions now waiting; False when the API server did not answer."""
        try:
            listed = self.api.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "workflowruns", _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - any failure during a fault means "no news this time"
            log.debug("poll failed: %s", exc)
            return False
        self.objects = {item["metadata"]["name"]: item for item in listed["items"]}
        self.answer_waiting()
        return True

    def see(self, item: dict) -> None:
        """Take one run as the API server shows it now (from a watch), and answer it if it waits."""
        name = item["metadata"]["name"]
        self.objects[name] = item
        self._answer(name, item)

    def answer_waiting(self) -> None:
        """Answer every run seen waiting at its instruction and not answered yet (a failed answer is retried)."""
        for name, item in list(self.objects.items()):
            self._answer(name, item)

    def _answer(self, name: str, item: dict) -> None:
        answer = self.expected[name].answer
        waiting = (item.get("status") or {}).get("waitingFor") or {}
        if answer is None or name in self.answered or waiting.get("node") != "ask":
            return
        self.answered.add(name)
        if self.pool is None:
            self._resume(name, answer)
        else:
            self.pool.submit(self._resume, name, answer)

    def _resume(self, name: str, answer: str) -> None:
        patch = {"spec": {"resume": [{"node": "ask", "input": {"choice": answer}}]}}
        try:
            self.api.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "workflowruns", name, patch, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - answered on a later poll
            log.debug("resume of %s failed: %s", name, exc)
            self.answered.discard(name)

    def status(self, name: str) -> dict:
        return (self.objects.get(name) or {}).get("status") or {}

    def signatures(self) -> dict[str, Signature]:
        return {name: signature(self.status(name)) for name in self.expected}

    def progressed(self) -> int:
        """Runs past their first node (or finished)."""
        return sum(1 for name in self.expected if (self.status(name).get("nodesCompleted") or 0) > 0)

    def finished(self) -> set[str]:
        return {name for name in self.expected if self.status(name).get("phase") in FINAL_PHASES}


def poll_until(batch: Batch, done, deadline: float, interval: float = 1.0) -> bool:
    """Poll until `done(batch)` holds (True) or the monotonic `deadline` passes (False)."""
    while True:
        if batch.poll() and done(batch):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
