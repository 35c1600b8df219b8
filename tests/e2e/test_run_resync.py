"""The operator's resync: an execution that ends without a final snapshot (terminated on Temporal) shows on
its WorkflowRun within the resync interval (here 3 s, on an operator of this module's own)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from drift.run_observation import handle
from drift.settings import temporal_settings
from drift.temporal_client import connect
from tests.conftest import DriftProcess
from tests.e2e.conftest import eventually
from tests.e2e.test_workflow_runs import apply, status, wait_for

pytestmark = pytest.mark.usefixtures("drift_worker")
RESYNC_SECONDS = 3


@pytest.fixture(scope="module")
def fast_resync_operator(stack_env, crds_installed, tmp_path_factory) -> Iterator[DriftProcess]:
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    process = DriftProcess("drift_operator.main", stack_env, log_path, DRIFT_RESYNC_SECONDS=str(RESYNC_SECONDS))
    process.start()
    yield process
    process.stop()


async def _terminate(stack_env: dict, workflow_id: str) -> None:
    client = await connect(temporal_settings(stack_env))
    await handle(client, workflow_id).terminate(reason="terminated on Temporal, not through Drift")


@pytest.mark.usefixtures("fast_resync_operator")
def test_an_execution_terminated_on_temporal_shows_on_its_run_after_the_resync(namespace, stack_env):
    nodes = [{"name": "ask", "type": "instruction", "instruction": {"message": "go?"}, "next": "done"},
             {"name": "done", "type": "success"}]  # fmt: skip
    apply(
        {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "asker", "namespace": namespace},
         "spec": {"startAt": "ask", "nodes": nodes}},
        {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun", "metadata": {"name": "r", "namespace": namespace},
         "spec": {"workflowRef": {"name": "asker"}}},
    )  # fmt: skip
    wait_for(namespace, "r", "jsonpath={.status.phase}=Waiting", 90)
    asyncio.run(_terminate(stack_env, status(namespace, "r")["execution"]["workflowId"]))
    terminated = time.monotonic()
    eventually(lambda: status(namespace, "r").get("phase") == "Failed", "the run Failed", timeout=60)
    ready = next(c for c in status(namespace, "r")["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Terminated"
    assert time.monotonic() - terminated < 4 * RESYNC_SECONDS  # the resync, not a minute later
