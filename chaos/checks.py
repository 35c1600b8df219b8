"""What must hold for every run of a fault once the batch is over: its end, its side effects, its context in
HBase and its status against Temporal."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from drift.models.run import FINAL_PHASES
from drift.run_contract import run_workflow_id
from drift.run_observation import closed_phase, observe
from drift.settings import hbase_settings, temporal_settings
from drift.storage.hbase import HBaseStore
from drift.temporal_client import connect

from .runs import Batch
from .workload import Expected

MAX_ATTEMPTS_PER_STEP = 2
"""A side effect may happen once more than expected: the attempt in flight when the fault struck."""
BACKEND_READS_AT_ONCE = 8
"""Runs whose context and execution are read at the same time (the HBase store's pool size)."""


@dataclass
class Verdict:
    """The failures of one fault's checks, by kind (run names), and the duplicate side effects seen."""

    lost: list[str] = field(default_factory=list)
    """Not at the expected phase when the batch ended (stuck, or ended wrong)."""
    duplicates: int = 0
    """Side effects beyond one per step, summed over the runs (each one an attempt a fault cut off)."""
    too_many: list[str] = field(default_factory=list)
    """A step called more than MAX_ATTEMPTS_PER_STEP times, a step called that should not be, or none."""
    incomplete_context: list[str] = field(default_factory=list)
    disagreeing: list[str] = field(default_factory=list)
    """status.phase differs from what Temporal says of the execution."""

    @property
    def failures(self) -> list[str]:
        kinds = {"lost": self.lost, "side effects": self.too_many, "context": self.incomplete_context,
                 "status != Temporal": self.disagreeing}  # fmt: skip
        return [f"{kind}: {len(names)} ({', '.join(sorted(names)[:3])})" for kind, names in kinds.items() if names]


def side_effects(expected: Expected, hits: dict[str, int]) -> tuple[int, bool]:
    """(duplicates, within bounds) of one finished run's calls per step against its expected steps."""
    duplicates = sum(max(0, n - 1) for n in hits.values())
    wanted = set(expected.steps)
    ok = set(hits) == wanted and all(n <= MAX_ATTEMPTS_PER_STEP for n in hits.values())
    return duplicates, ok


def context_complete(name: str, expected: Expected, cells: dict[bytes, bytes]) -> bool:
    """The run's context holds every expected key (the calls' answers for this run, the instruction's answer)
    and the operator marked it finished."""
    if b"d:context" not in cells or b"d:finishedAt" not in cells:
        return False
    context = json.loads(cells[b"d:context"])
    if not set(expected.context_keys) <= set(context):
        return False
    calls_ok = all(context[key].get("run") == name for key in expected.context_keys if key.startswith("call-"))
    return calls_ok and (expected.answer is None or context["ask"] == {"choice": expected.answer})


async def temporal_phase(temporal: Client, workflow_id: str) -> str | None:
    """The phase Temporal's execution implies (as the operator maps it), "open" while it runs, None if absent."""
    try:
        execution = await observe(temporal, workflow_id, query=False)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if execution.closed is None:
        return "open"
    return closed_phase(execution.closed, execution.snapshot)[0]


def agrees(shown: str | None, temporal: str | None) -> bool:
    """A final status.phase must be Temporal's; an open execution goes with any other phase; no execution with
    a run not started (no phase, Pending)."""
    if temporal == "open":
        return shown not in FINAL_PHASES
    if temporal is None:
        return shown in (None, "Pending")
    return shown == temporal


async def _backends(batch: Batch, verdict: Verdict) -> None:
    temporal = await connect(temporal_settings())
    store = HBaseStore(hbase_settings())
    at_once = asyncio.Semaphore(BACKEND_READS_AT_ONCE)

    async def check_run(name: str, expected: Expected) -> None:
        item = batch.objects.get(name)
        if item is None:
            return
        workflow_id = run_workflow_id(item["metadata"])
        async with at_once:
            cells = await store.row("WorkflowContextHB", workflow_id)
            executed = await temporal_phase(temporal, workflow_id)
        if not context_complete(name, expected, cells):
            verdict.incomplete_context.append(name)
        if not agrees((item.get("status") or {}).get("phase"), executed):
            verdict.disagreeing.append(name)

    try:
        await asyncio.gather(*(check_run(name, expected) for name, expected in batch.expected.items()))
    finally:
        store.close()


def check(batch: Batch, hits: dict[str, dict[str, int]]) -> Verdict:
    """Every check on a finished (or timed-out) batch; `hits` are the counting server's calls per run."""
    verdict = Verdict()
    for name, expected in batch.expected.items():
        if batch.status(name).get("phase") != expected.phase:
            verdict.lost.append(name)
            continue
        duplicates, ok = side_effects(expected, hits.get(name, {}))
        verdict.duplicates += duplicates
        if not ok:
            verdict.too_many.append(name)
    asyncio.run(_backends(batch, verdict))
    return verdict
