"""Catching up after a resubscription: every held run re-read, a few at a time, once more if asked during a pass."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from temporalio.service import RPCError, RPCStatusCode

from drift_operator import run_catchup
from drift_operator.run_catchup import CatchUp
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
