"""The operator's settings, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from drift.observability import DEFAULT_PORT
from drift.settings import BackendSettings, backend_settings

from .status_queue import STATUS_WRITES_AT_ONCE

N = TypeVar("N", int, float)
FINALIZER = "drift.dev/finalizer"
"""kopf's finalizer on the kinds with delete handlers (WorkflowSchedules); WorkflowRuns of earlier operators
carry it too, and the run handler releases it."""


@dataclass(frozen=True)
class OperatorSettings(BackendSettings):
    """Endpoints (API.md, Operations) and the operator's timings."""

    watch_namespace: str | None = None
    """DRIFT_WATCH_NAMESPACE: watch only this namespace; unset: the whole cluster."""
    metrics_port: int = DEFAULT_PORT
    """DRIFT_METRICS_PORT: /metrics and /healthz."""
    coalesce_seconds: float = 0.2
    """A run's status is patched at most once per this many seconds; newer snapshots replace pending ones."""
    status_writes_at_once: int = STATUS_WRITES_AT_ONCE
    """DRIFT_STATUS_WRITES_AT_ONCE: status patches in flight at most; more runs wait their turn (status_queue)."""
    resync_seconds: float = 60.0
    """DRIFT_RESYNC_SECONDS: each unfinished run is checked against Temporal at most this often (catches
    missed events and closes without a final snapshot); with many runs, `resync_per_second` spaces the
    checks further."""
    resync_per_second: float = 10.0
    """DRIFT_RESYNC_PER_SECOND: at most this many runs are resynced per second, whatever the number of runs
    (at 10,000 unfinished runs and the default, each is checked about every 17 minutes)."""
    pending_retry_seconds: float = 30.0
    """A Pending run retries resolving its workflow at least this often (besides the Workflow's trigger)."""
    update_timeout_seconds: float = 10.0
    """How long one resume delivery may wait for the worker before it is retried later."""
    orphan_sweep_seconds: float = 600.0
    """DRIFT_ORPHAN_SWEEP_SECONDS: this often, open executions whose WorkflowRun is gone (deleted while the
    operator was away, or their termination failed) are terminated."""
    run_ttl_seconds: int | None = None
    """DRIFT_RUN_TTL_SECONDS: delete a WorkflowRun this long after it finished, unless its spec sets
    `ttlSecondsAfterFinished`; unset: keep finished runs."""
    context_retention_days: float | None = None
    """DRIFT_CONTEXT_RETENTION_DAYS: delete a finished run's context from HBase this long after it finished;
    unset: keep every context."""


def load(env: Mapping[str, str] = os.environ) -> OperatorSettings:
    """Settings from DRIFT_* variables; defaults match the local stack."""
    return OperatorSettings(
        **backend_settings(env),  # type: ignore[arg-type]
        watch_namespace=env.get("DRIFT_WATCH_NAMESPACE") or None,
        metrics_port=int(env.get("DRIFT_METRICS_PORT", DEFAULT_PORT)),
        status_writes_at_once=_positive(env, "DRIFT_STATUS_WRITES_AT_ONCE", OperatorSettings.status_writes_at_once),
        resync_seconds=float(env.get("DRIFT_RESYNC_SECONDS", OperatorSettings.resync_seconds)),
        resync_per_second=float(env.get("DRIFT_RESYNC_PER_SECOND", OperatorSettings.resync_per_second)),
        orphan_sweep_seconds=float(env.get("DRIFT_ORPHAN_SWEEP_SECONDS", OperatorSettings.orphan_sweep_seconds)),
        run_ttl_seconds=_optional(env, "DRIFT_RUN_TTL_SECONDS", int),
        context_retention_days=_optional(env, "DRIFT_CONTEXT_RETENTION_DAYS", float),
    )


def _optional(env: Mapping[str, str], name: str, kind: type[N]) -> N | None:
    """A non-negative number from `name`, None when unset or empty."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r} must not be negative")
    return value


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number above zero from `name` (read as `_optional` reads it), `default` when unset or empty."""
    value = _optional(env, name, int)
    if value == 0:
        raise ValueError(f"{name}=0 must be above 0")
    return default if value is None else value
