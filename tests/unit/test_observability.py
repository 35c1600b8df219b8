"""The probe endpoint's answers, on a loopback port with stand-in probes (the real processes: tests/integration)."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from drift import observability
from drift.observability import backend_problems, serve
from tests.conftest import free_port


async def _ok() -> None:
    return None


async def _refused() -> None:
    raise ConnectionRefusedError("connection refused")


async def _hangs() -> None:
    await asyncio.sleep(60)


async def test_backend_problems_names_each_failure_and_bounds_each_probe(monkeypatch):
    monkeypatch.setattr(observability, "BACKEND_PROBE_TIMEOUT_SECONDS", 0.1)
    problems = await backend_problems({"redis": _ok, "hbase": _refused, "temporal": _hangs})
    assert problems == {
        "redis": None,
        "hbase": "ConnectionRefusedError: connection refused",
        "temporal": "no answer within 0.1s",
    }


async def test_liveness_and_readiness_answer_independently():
    port, problem = free_port(), None
    runner = await serve(port, lambda: problem, {"redis": _ok, "hbase": _refused}, host="127.0.0.1")
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            async with session.get("/healthz") as live:
                assert (live.status, await live.text()) == (200, "ok")
            async with session.get("/readyz") as ready:
                assert ready.status == 503
                assert json.loads(await ready.text()) == {
                    "redis": "ok",
                    "hbase": "ConnectionRefusedError: connection refused",
                }
            problem = "the Temporal worker is not running"
            async with session.get("/healthz") as live:
                assert (live.status, await live.text()) == (503, problem)
    finally:
        await runner.cleanup()
