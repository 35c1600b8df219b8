"""The HTTP endpoint of each process: Prometheus metrics at /metrics, liveness at /healthz."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

DEFAULT_PORT = 9090


def metrics_port(env: Mapping[str, str] = os.environ) -> int:
    """DRIFT_METRICS_PORT (default 9090)."""
    return int(env.get("DRIFT_METRICS_PORT", DEFAULT_PORT))


async def serve(port: int, alive: Callable[[], bool] = lambda: True, host: str = "0.0.0.0") -> web.AppRunner:  # noqa: S104 - probes and scrapes come from outside the pod
    """Start the endpoint in the running event loop; `alive` decides /healthz (200 or 503)."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if alive() else web.Response(status=503, text="unhealthy")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
