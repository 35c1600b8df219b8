"""Resume delivery when Temporal goes away mid-update (drift_operator.run_reconcile._deliver)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from drift.models.run import WorkflowRunSpec
from drift_operator import run_reconcile


async def test_an_update_cut_off_by_a_temporal_restart_is_delivered_later(monkeypatch: pytest.MonkeyPatch):
    # Raised by the SDK when the server dies while an update waits; it is no RPCError. Escaping, it killed the
    # resync loop (every unfinished run then waited for an operator restart).
    async def resume(*_: object) -> None:
        raise WorkflowUpdateRPCTimeoutOrCancelledError

    monkeypatch.setattr(run_reconcile.executions, "resume", resume)
    spec = WorkflowRunSpec.model_validate(
        {"workflowRef": {"name": "approval"}, "resume": [{"node": "ask", "input": {"choice": "approve"}}]}
    )
    services = SimpleNamespace(temporal=None, settings=SimpleNamespace(update_timeout_seconds=1.0))
    state = SimpleNamespace(workflow_id="ns/run/uid")
    assert await run_reconcile._deliver(state, spec, 0, services) == (0, None, False)  # type: ignore[arg-type]
