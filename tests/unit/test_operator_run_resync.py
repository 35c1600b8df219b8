"""The run resync: a bounded number of runs per second, the most overdue first, each rescheduled by outcome."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from temporalio.service import RPCError, RPCStatusCode

from drift_operator import operator_settings, run_reconcile
from drift_operator.run_registry import RunRegistry
from drift_operator.run_resync import Resync, due


def runs(count: int) -> RunRegistry:
    registry = RunRegistry(first_resync=0.0)
    for i in range(count):
        body = {"metadata": {"namespace": "ns", "name": f"r{i}", "uid": f"u{i}", "generation": 1},
                "spec": {"workflowRef": {"name": "w"}, "resume": [{"node": "ask", "input": {"i": i}}]}}  # fmt: skip
        registry.track(body).status = {"phase": "Waiting", "execution": {"workflowId": f"ns/r{i}"}}
    return registry


def test_due_takes_the_most_overdue_first_and_at_most_the_budget():
    states = runs(5).states()
    for offset, state in zip([3, -1, 1, -5, -2], states, strict=True):
        state.resync_at = 100.0 + offset
    assert [s.name for s in due(states, 100.0, 2)] == ["r3", "r4"]
    assert [s.name for s in due(states, 100.0, 10)] == ["r3", "r4", "r1"]
    assert due(states, 100.0, 0) == []


@pytest.mark.parametrize(
    ("outcome", "started", "delay"),
    [
        (None, True, 60.0),  # resynced: next in resync_seconds
        (2.5, True, 2.5),  # the delay the reconcile returns
        (RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""), True, 5.0),  # RETRY_SECONDS
        (LookupError("a surprise"), True, 5.0),  # logged and retried: the loop serves every run
        (None, False, 30.0),  # still Pending: pending_retry_seconds
    ],
)
async def test_each_run_is_rescheduled_by_its_outcome(monkeypatch, outcome, started, delay):
    seen = []

    async def reconcile(body, services, stalled, *, observe):
        seen.append((body["metadata"]["name"], body["spec"]["resume"][0]["input"], observe))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(run_reconcile, "reconcile", reconcile)
    registry = runs(1)
    (state,) = registry.states()
    if not started:
        state.status = {"phase": "Pending"}
    resync = Resync(SimpleNamespace(runs=registry, settings=operator_settings.load({})), stalled=None)
    before = time.monotonic()
    await resync.one(state)
    assert seen == [("r0", {"i": 0}, True)]  # reconciled with the spec and metadata last handed to a handler
    assert before + delay <= state.resync_at <= time.monotonic() + delay
