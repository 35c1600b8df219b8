"""Drift's own processes on the local stack: the samples' backend, the worker, the operator and drift-events."""

from __future__ import annotations

import sys

from .config import StackConfig
from .probes import http_ok, tcp_open
from .process import ProcessSpec

APPS = ("drift-samples", "drift-worker", "drift-operator", "drift-events")
"""Started after the services (and the CRDs) by `make dev-up`; not part of the test stack."""
MODULES = {
    "drift-samples": "drift_devstack.samples_backend",
    "drift-worker": "drift_worker.main",
    "drift-operator": "drift_operator.main",
    "drift-events": "drift_events.main",
}
APP_ENV = {"drift-events": {"DRIFT_EVENTS_PORT": "drift-events"}}
"""Variables naming another port of an app (drift-events' CloudEvents receiver), by port name."""


def specs(config: StackConfig, ports: dict[str, int], env: dict[str, str]) -> list[ProcessSpec]:
    """The worker, the operator and drift-events with the stack's variables, each serving /metrics and
    /healthz (drift-events also its CloudEvents receiver)."""
    result = [
        ProcessSpec(
            name="drift-samples",
            argv=[sys.executable, "-m", MODULES["drift-samples"], str(ports["drift-samples"])],
            ready=lambda: tcp_open(ports["drift-samples"]),
        )
    ]
    for app in APPS[1:]:
        port = ports[f"{app}-metrics"]
        result.append(
            ProcessSpec(
                name=app,
                argv=[sys.executable, "-m", MODULES[app]],
                ready=lambda port=port: http_ok(port, "/healthz"),
                env={
                    **env,
                    "DRIFT_METRICS_PORT": str(port),
                    **{name: str(ports[key]) for name, key in APP_ENV.get(app, {}).items()},
                },
                stop_timeout=20.0,
            )
        )
    return result
