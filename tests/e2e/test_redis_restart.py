"""Runs' status right after Redis restarts or while it is down: seconds, not the operator's one-minute resync.

The worker's publisher retries on fresh connections, the operator's subscription comes back by itself and then
re-reads its unfinished runs from Temporal (what was published while it was away is lost: pub/sub keeps nothing).
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import kubectl, stack_command

from .test_workflow_runs import apply, resume, status, wait_for

pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")
FEW_SECONDS = 10
"""What "seconds, not a minute" means on a busy 2-core machine (quietly a chain shows Succeeded in 0.5 s)."""


def workflow(namespace: str, name: str, approval: bool) -> dict:
    """Three processor nodes, after an instruction node with `approval`."""
    nodes = [
        *([{"name": "approve", "type": "instruction", "next": "n0", "instruction": {"message": "go?"}}] if approval
          else []),
        *({"name": f"n{i}", "type": "processor", "processor": {"set": {"last": f"{i}"}}, "next": f"n{i + 1}"}
          for i in range(3)),
        {"name": "n3", "type": "success"},
    ]  # fmt: skip
    metadata = {"name": name, "namespace": namespace}
    spec = {"startAt": nodes[0]["name"], "nodes": nodes}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": metadata, "spec": spec}


def run(namespace: str, name: str, workflow_name: str = "chain") -> dict:
    metadata = {"name": name, "namespace": namespace}
    spec = {"workflowRef": {"name": workflow_name}, "input": {}}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun", "metadata": metadata, "spec": spec}


def seconds_until_succeeded(namespace: str, name: str) -> float:
    """Seconds from now until the run shows Succeeded (fails past a minute: the resync would have done it)."""
    began = time.monotonic()
    wait_for(namespace, name, "condition=Succeeded", timeout=60)
    return time.monotonic() - began


@pytest.fixture
def chains(namespace: str) -> str:
    """`chain` (three processors) and `approved-chain` (an instruction first), both Ready; one run done."""
    apply(workflow(namespace, "chain", approval=False), workflow(namespace, "approved-chain", approval=True))
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflows", "--all")
    apply(run(namespace, "warm-up"))
    wait_for(namespace, "warm-up", "condition=Succeeded")
    return namespace


def test_a_run_applied_right_after_a_redis_restart_shows_succeeded_within_seconds(chains, stack_env):
    stack_command(stack_env, "restart", "redis")
    apply(run(chains, "after-restart"))
    assert seconds_until_succeeded(chains, "after-restart") < FEW_SECONDS


def test_a_run_that_ends_while_redis_is_down_shows_succeeded_seconds_after_it_is_back(chains, stack_env):
    apply(run(chains, "waiting", "approved-chain"))
    wait_for(chains, "waiting", "jsonpath={.status.phase}=Waiting")
    stack_command(stack_env, "down", "redis")
    try:
        resume(chains, "waiting", {"node": "approve", "input": {}})
        wait_for(chains, "waiting", "jsonpath={.status.resumesDelivered}=1")
        time.sleep(2)  # the worker runs on; its snapshots find no Redis
        assert status(chains, "waiting")["phase"] != "Succeeded"
    finally:
        stack_command(stack_env, "up", "redis")
    assert seconds_until_succeeded(chains, "waiting") < FEW_SECONDS
