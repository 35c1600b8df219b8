"""The operator's safety nets, on an operator of this module's own with 3 s intervals: the resync (an
execution that ends without a final snapshot, terminated on Temporal, shows on its WorkflowRun) and the orphan
sweep (a run deleted while the operator was away has its execution terminated when it is back); and a run that
still carries the finalizer of an earlier operator is not held by it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from drift.run_observation import handle
from drift.settings import temporal_settings
from drift.temporal_client import connect
from tests.conftest import DriftProcess, kubectl
from tests.e2e.conftest import eventually
from tests.e2e.test_workflow_runs import apply, execution, status, wait_for

pytestmark = pytest.mark.usefixtures("drift_worker")
RESYNC_SECONDS = 3
NODES = [{"name": "ask", "type": "instruction", "instruction": {"message": "go?"}, "next": "done"},
         {"name": "done", "type": "success"}]  # fmt: skip


@pytest.fixture(scope="module")
def fast_operator(stack_env, crds_installed, tmp_path_factory) -> Iterator[DriftProcess]:
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    intervals = {"DRIFT_RESYNC_SECONDS": str(RESYNC_SECONDS), "DRIFT_ORPHAN_SWEEP_SECONDS": str(RESYNC_SECONDS)}
    process = DriftProcess("drift_operator.main", stack_env, log_path, **intervals)
    process.start()
    yield process
    process.stop()


async def _terminate(stack_env: dict, workflow_id: str) -> None:
    client = await connect(temporal_settings(stack_env))
    await handle(client, workflow_id).terminate(reason="terminated on Temporal, not through Drift")


def waiting_run(namespace: str, name: str, **metadata: object) -> str:
    """Apply the asking Workflow and a run of it; the run's workflow id once it waits."""
    apply(
        {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "asker", "namespace": namespace},
         "spec": {"startAt": "ask", "nodes": NODES}},
        {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun",
         "metadata": {"name": name, "namespace": namespace, **metadata}, "spec": {"workflowRef": {"name": "asker"}}},
    )  # fmt: skip
    wait_for(namespace, name, "jsonpath={.status.phase}=Waiting", 90)
    return status(namespace, name)["execution"]["workflowId"]


@pytest.mark.usefixtures("fast_operator")
def test_an_execution_terminated_on_temporal_shows_on_its_run_after_the_resync(namespace, stack_env):
    asyncio.run(_terminate(stack_env, waiting_run(namespace, "r")))
    terminated = time.monotonic()
    eventually(lambda: status(namespace, "r").get("phase") == "Failed", "the run Failed", timeout=60)
    ready = next(c for c in status(namespace, "r")["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Terminated"
    assert time.monotonic() - terminated < 4 * RESYNC_SECONDS  # the resync, not a minute later


def test_a_run_deleted_while_the_operator_is_away_has_its_execution_terminated_when_it_is_back(
    namespace, stack_env, fast_operator
):
    workflow_id = waiting_run(namespace, "gone")
    fast_operator.stop()
    try:
        kubectl("delete", "wfr", "gone", "-n", namespace, "--timeout=30s")  # no finalizer waits for the operator
        assert execution(stack_env, workflow_id)[0] == "RUNNING"
    finally:
        fast_operator.start()
    eventually(lambda: execution(stack_env, workflow_id)[0] == "TERMINATED", "the orphan sweep", timeout=60)


@pytest.mark.usefixtures("fast_operator")
def test_a_run_with_an_earlier_operators_finalizer_is_not_held_by_it(namespace, stack_env):
    workflow_id = waiting_run(namespace, "old", finalizers=["drift.dev/finalizer"])
    kubectl("delete", "wfr", "old", "-n", namespace, "--timeout=30s")
    eventually(lambda: execution(stack_env, workflow_id)[0] == "TERMINATED", "the deleted run's execution terminated")
