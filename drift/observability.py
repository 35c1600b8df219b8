"""The HTTP endpoint of each process: metrics at /metrics, liveness at /healthz, readiness at /readyz.

Liveness answers for the process alone (its event loop answers and its main task runs): a backend outage
never fails it, or every pod would restart-loop through the outage. Readiness reports each backend.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from temporalio.client import Client

    from .storage.hbase import HBaseStore

DEFAULT_PORT = 9090
BACKEND_PROBE_TIMEOUT_SECONDS = 2.0

Liveness = Callable[[], str | None]
"""None while the process is alive, else why it is not."""
BackendProbe = Callable[[], Awaitable[object]]
"""Raises (or times out) when its backend cannot be used."""


def metrics_port(env: Mapping[str, str] = os.environ) -> int:
    """DRIFT_METRICS_PORT (default 9090)."""
    return int(env.get("DRIFT_METRICS_PORT", DEFAULT_PORT))


def drift_backends(redis: Redis, store: HBaseStore, temporal: Client) -> dict[str, BackendProbe]:
    """The probes of the backends both processes need: Redis, HBase and Temporal."""

    async def temporal_health() -> None:
        timeout = timedelta(seconds=BACKEND_PROBE_TIMEOUT_SECONDS)
        if not await temporal.service_client.check_health(timeout=timeout):
            raise ConnectionError("Temporal reports itself not serving")

    return {
        "redis": redis.ping,
        "hbase": lambda: store.ping(BACKEND_PROBE_TIMEOUT_SECONDS),
        "temporal": temporal_health,
    }


async def backend_problems(probes: Mapping[str, BackendProbe]) -> dict[str, str | None]:
    """Run every probe at once, each bounded in time: backend -> None (reachable) or the problem."""

    async def one(probe: BackendProbe) -> str | None:
        try:
            async with asyncio.timeout(BACKEND_PROBE_TIMEOUT_SECONDS):
                await probe()
        except TimeoutError:
            return f"no answer within {BACKEND_PROBE_TIMEOUT_SECONDS:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure of a probe means the backend is not usable
            return f"{type(exc).__name__}: {exc}"
        return None

    results = await asyncio.gather(*(one(probe) for probe in probes.values()))
    return dict(zip(probes, results, strict=True))


async def serve(
    port: int, live: Liveness, backends: Mapping[str, BackendProbe], host: str = "0.0.0.0"  # noqa: S104 - probes and scrapes come from outside the pod
) -> web.AppRunner:  # fmt: skip
    """Start the endpoint in the running event loop."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        problem = live()
        return web.Response(text="ok") if problem is None else web.Response(status=503, text=problem)

    async def readyz(_: web.Request) -> web.Response:
        problems = await backend_problems(backends)
        body = {name: problem or "ok" for name, problem in problems.items()}
        status = 200 if not any(problems.values()) else 503
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
