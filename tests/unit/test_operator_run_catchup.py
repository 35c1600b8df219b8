"""Catching up after a resubscription: every held run re-read, a few at a time, once more if asked during a pass;
only started, unfinished runs are asked about."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from temporalio.service import RPCError, RPCStatusCode

from drift import run_observation
from drift.metrics import RUNS_CATCHING_UP
from drift.run_contract import RunSnapshot
from drift.run_events import RunEvents
from drift_operator import run_catchup
from drift_operator.run_catchup import CatchUp
from drift_operator.run_reconcile import refresh
from drift_operator.run_registry import RunRegistry


def registry(count: int) -> RunRegistry:
    runs = RunRegistry()
    for i in range(count):
        runs.track({"metadata": {"namespace": "default", "name": f"r{i}", "uid": f"u{i}"}, "status": {}})
    return runs


async def test_every_run_is_refreshed_at_most_concurrency_at_once_and_a_failure_stops_no_other(monkeypatch):
    refreshed, running, peak = [], 0, 0

    async def refresh(state, services):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if state.name == "r3":
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
        refreshed.append(state.name)

    monkeypatch.setattr(run_catchup, "refresh", refresh)
    catch_up = CatchUp(SimpleNamespace(runs=registry(20)), concurrency=4)
    await catch_up.request()
    assert sorted(refreshed) == sorted(f"r{i}" for i in range(20) if i != 3)
    assert peak == 4


async def test_the_runs_catching_up_gauge_counts_the_runs_not_yet_re_read_failed_ones_included(monkeypatch):
    release, two_in, seen = asyncio.Event(), asyncio.Event(), []

    async def refresh(state, services):
        seen.append(state.name)
        if len(seen) == 2:
            two_in.set()
        await release.wait()
        if state.name == "r1":
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(run_catchup, "refresh", refresh)
    before = RUNS_CATCHING_UP._value.get()
    passing = CatchUp(SimpleNamespace(runs=registry(5)), concurrency=2).request()
    await two_in.wait()
    assert RUNS_CATCHING_UP._value.get() - before == 5  # two being re-read, three waiting for their turn
    release.set()
    await passing
    assert RUNS_CATCHING_UP._value.get() == before


async def test_stop_observing_cancels_the_first_sights_and_the_catch_up_pass_under_way(monkeypatch):
    started, finished = asyncio.Event(), []

    async def refresh(state, services):
        started.set()
        await asyncio.sleep(60)
        finished.append(state.name)

    monkeypatch.setattr(run_catchup, "refresh", refresh)
    before = RUNS_CATCHING_UP._value.get()
    runs = registry(3)
    services = SimpleNamespace(runs=runs, first_sight=asyncio.Semaphore(1))
    for state in runs.states():
        run_catchup.observe_soon(state, services)
    passing = CatchUp(services).request()
    await started.wait()
    await asyncio.wait_for(run_catchup.stop_observing(), 1)
    assert passing.cancelled()
    assert not finished
    assert RUNS_CATCHING_UP._value.get() == before


@pytest.mark.parametrize("requests_during_pass", [1, 3])
async def test_requests_during_a_pass_run_exactly_one_more(monkeypatch, requests_during_pass):
    passes, first_pass = [], asyncio.Event()

    async def refresh(state, services):
        passes.append(state.name)
        await first_pass.wait()

    monkeypatch.setattr(run_catchup, "refresh", refresh)
    catch_up = CatchUp(SimpleNamespace(runs=registry(1)))
    passing = catch_up.request()
    await asyncio.sleep(0.01)
    assert all(catch_up.request() is passing for _ in range(requests_during_pass))
    first_pass.set()
    await passing
    assert passes == ["r0", "r0"]


class Writes:
    """A status writer that records what each write was told was seen."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    async def write(self, state, extra=None, **seen) -> None:
        self.seen.append(seen)


async def test_refresh_asks_temporal_for_the_snapshot_of_a_started_run_and_writes_what_it_saw(monkeypatch):
    asked: list[tuple[str, bool]] = []

    async def observe(client, workflow_id, query):
        asked.append((workflow_id, query))
        return run_observation.Execution("COMPLETED", None, RunSnapshot(sequence=7, phase="Succeeded"), None)

    monkeypatch.setattr(run_observation, "observe", observe)
    runs, events, status = registry(3), RunEvents(), Writes()
    events.epoch, events.connected = 2, True
    started, finished, pending = runs.states()
    started.status = {"phase": "Running", "execution": {"workflowId": started.workflow_id}}
    finished.status = {"phase": "Succeeded", "execution": {"workflowId": finished.workflow_id}}
    services = SimpleNamespace(runs=runs, events=events, status=status, temporal=None)
    for state in (started, finished, pending):
        await refresh(state, services)
    assert asked == [(started.workflow_id, True)]  # its snapshot came from before the resubscription
    assert status.seen[0]["closed"] == "COMPLETED"
    assert status.seen[0]["snapshot"].sequence == 7
    assert started.snapshot_epoch == 2
