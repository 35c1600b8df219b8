"""One namespace's WorkflowRuns followed with a watch: every change handed to the batch (which answers the
instructions), every deletion timed. Cheaper than listing thousands of runs every second."""

from __future__ import annotations

import logging
import time

from kubernetes import watch
from kubernetes.client.rest import ApiException

from bench.kube_objects import GROUP, VERSION
from drift.models.run import FINAL_PHASES

from .background import Background
from .runs import Batch

log = logging.getLogger("chaos")
WATCH_SECONDS = 10
"""Each watch request ends after this long and the next resumes where it stopped (so a stop takes effect)."""
GONE = 410
"""The resource version watched from is too old: list again."""


class RunWatch(Background):
    """A thread following the batch's namespace while the `with` block runs."""

    join_seconds = WATCH_SECONDS + 15

    def __init__(self, batch: Batch) -> None:
        super().__init__("run watch")
        self.batch = batch
        self.deleted: dict[str, float] = {}
        """Run name -> wall-clock time (time.time()) its deletion was seen."""
        self.ended: dict[str, float] = {}
        """Run name -> wall-clock time its final phase was first seen."""

    def loop(self) -> None:
        version: str | None = None
        while not self.stopping.is_set():
            try:
                version = self._watch_from(version or self._relist())
            except ApiException as exc:
                if exc.status != GONE:
                    log.warning("run watch: %s", exc.reason)
                    time.sleep(1)
                version = None
            except Exception as exc:  # noqa: BLE001 - the API server may be slow or down: watch again
                log.warning("run watch: %s", exc)
                time.sleep(1)

    def _relist(self) -> str:
        """Take every run as listed now; a run seen before and no longer listed was deleted meanwhile."""
        api = self.batch.api
        listed = api.list_namespaced_custom_object(GROUP, VERSION, self.batch.namespace, "workflowruns")
        present = set()
        for item in listed["items"]:
            self._see(item)
            present.add(item["metadata"]["name"])
        now = time.time()
        for name in list(self.batch.objects):
            if name not in present:
                self.deleted.setdefault(name, now)
        return listed["metadata"]["resourceVersion"]

    def _watch_from(self, version: str) -> str:
        """Follow the changes after `version` for up to WATCH_SECONDS; the last version seen."""
        stream = watch.Watch().stream(
            self.batch.api.list_namespaced_custom_object, GROUP, VERSION, self.batch.namespace, "workflowruns",
            resource_version=version, timeout_seconds=WATCH_SECONDS, _request_timeout=(3, WATCH_SECONDS + 10),
        )  # fmt: skip
        for event in stream:
            item = event["raw_object"]
            version = item["metadata"]["resourceVersion"]
            if event["type"] == "DELETED":
                self.batch.objects[item["metadata"]["name"]] = item
                self.deleted.setdefault(item["metadata"]["name"], time.time())
            elif event["type"] in ("ADDED", "MODIFIED"):
                self._see(item)
        return version

    def _see(self, item: dict) -> None:
        self.batch.see(item)
        if (item.get("status") or {}).get("phase") in FINAL_PHASES:
            self.ended.setdefault(item["metadata"]["name"], time.time())
