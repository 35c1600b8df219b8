"""A soak's own checks once its runs have ended: one context row in HBase per started run, the runs with a
TTL deleted (and only they), and the size of the runs kept in etcd."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from kubernetes import client

from bench.kube_objects import GROUP, VERSION
from drift.conditions import parse_timestamp
from drift.run_contract import run_workflow_id
from drift.settings import hbase_settings
from drift.storage.hbase import HBaseStore

from .runs import Batch

PAGE = 500


@dataclass(frozen=True)
class Deletion:
    """One TTL run's deletion, in seconds after its `finishedAt` + TTL."""

    asked: float | None
    """Its `deletionTimestamp`: the operator's delete call (None: it went at once, having no finalizer)."""
    gone: float
    """The watch saw it gone."""


@dataclass(frozen=True)
class Retention:
    """What is left of the soak's runs: context rows, objects in etcd, TTL deletions."""

    started: int
    """Runs whose status names an execution."""
    context_rows: int
    """Rows of the soak's namespace in WorkflowContextHB."""
    without_row: list[str]
    """Started runs without a context row."""
    ttl_runs: int
    ttl_left: list[str]
    """Runs with a TTL still there at the end."""
    kept_deleted: list[str]
    """Runs without a TTL that were deleted."""
    deletions: list[Deletion]
    sizes: list[int]
    """JSON bytes of each run kept, as the API server serves it."""

    @property
    def failures(self) -> list[str]:
        kinds = {"started runs without a context row": self.without_row, "TTL runs not deleted": self.ttl_left,
                 "runs without TTL deleted": self.kept_deleted}  # fmt: skip
        found = [f"{kind}: {len(names)} ({', '.join(sorted(names)[:3])})" for kind, names in kinds.items() if names]
        if self.context_rows != self.started:
            found.append(f"context rows: {self.context_rows} for {self.started} started runs")
        return found


def end_lags(batch: Batch, ended: dict[str, float]) -> list[float]:
    """For each run seen ended (wall clock): seconds from its `finishedAt` (the worker's end) to then."""
    finished = {name: parse_timestamp(batch.status(name).get("finishedAt")) for name in ended}
    return [when - end.timestamp() for name, when in ended.items() if (end := finished[name]) is not None]


def deletions(batch: Batch, deleted: dict[str, float], ttl_seconds: int) -> list[Deletion]:
    """When each deleted run (its last object in the batch) was asked to go and went, after `finishedAt` + TTL."""
    found = []
    for name, gone in deleted.items():
        item = batch.objects.get(name) or {}
        finished = parse_timestamp(batch.status(name).get("finishedAt"))
        asked = parse_timestamp(item.get("metadata", {}).get("deletionTimestamp"))
        if finished is not None:
            due = finished.timestamp() + ttl_seconds
            found.append(Deletion(None if asked is None else asked.timestamp() - due, gone - due))
    return found


def object_sizes(api: client.CustomObjectsApi, namespace: str) -> dict[str, int]:
    """Run name -> JSON size in bytes of every run of the namespace, listed in pages."""
    sizes: dict[str, int] = {}
    token = None
    while True:
        page = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "workflowruns", limit=PAGE,
                                                 _continue=token)  # fmt: skip
        for item in page["items"]:
            sizes[item["metadata"]["name"]] = len(json.dumps(item, separators=(",", ":")).encode())
        token = page["metadata"].get("continue")
        if not token:
            return sizes


async def _context_rows(namespace: str) -> list[str]:
    store = HBaseStore(hbase_settings())
    try:
        return await store.scan_keys("WorkflowContextHB", f"{namespace}/")
    finally:
        store.close()


def retention(batch: Batch, deleted: dict[str, float], with_ttl: set[str], ttl_seconds: int) -> Retention:
    """Check what is left of the batch (`deleted`: the watch's deletion times; `with_ttl`: the runs given one)."""
    started = {run_workflow_id(batch.objects[name]["metadata"]): name for name in batch.expected
               if batch.status(name).get("execution")}  # fmt: skip
    rows = set(asyncio.run(_context_rows(batch.namespace)))
    sizes = object_sizes(batch.api, batch.namespace)
    return Retention(
        started=len(started),
        context_rows=len(rows),
        without_row=[name for key, name in started.items() if key not in rows],
        ttl_runs=len(with_ttl),
        ttl_left=sorted(with_ttl & set(sizes)),
        kept_deleted=sorted(set(batch.objects) - with_ttl - set(sizes)),
        deletions=deletions(batch, {name: t for name, t in deleted.items() if name in with_ttl}, ttl_seconds),
        sizes=[size for name, size in sizes.items() if name not in with_ttl],
    )
