"""The real operator (a subprocess) against the stack: definitions stored and statused, runs started once.

No worker runs here: run events are published by hand on the Redis channel the worker uses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import yaml
from temporalio.client import Client

from drift.run_contract import RunEvent, RunSnapshot, run_events_channel
from drift.settings import hbase_settings
from drift.storage.hbase import HBaseStore
from tests.conftest import REPO_ROOT, kubectl, stack_command
from tests.kstatus_check import compute as kstatus

pytestmark = pytest.mark.stack

FETCH_ORDER = yaml.safe_load((REPO_ROOT / "tests" / "fixtures" / "fetch-order.yaml").read_text())
ISSUE_REFUND = {
    "apiVersion": "drift.dev/v1alpha1",
    "kind": "NodeDefinition",
    "metadata": {"name": "issue-refund"},
    "spec": {"type": "script", "script": {"expression": "{'refunded': true}"}},
}
REFUND_APPROVAL = yaml.safe_load((REPO_ROOT / "tests" / "fixtures" / "refund-approval.yaml").read_text())


@pytest.fixture
def namespace(stack_env) -> str:
    name = f"op-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    return name


def apply(namespace: str, *manifests: dict[str, Any]) -> None:
    for manifest in manifests:
        placed = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
        kubectl("apply", "-f", "-", stdin=json.dumps(placed))


def get(namespace: str, kind: str, name: str) -> dict[str, Any]:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def wait_for(namespace: str, kind: str, name: str, check: Callable[[dict], Any], timeout: float = 20) -> dict:
    """Poll the object until `check(object)` is truthy; fail naming the last status."""
    deadline = time.monotonic() + timeout
    while True:
        obj = get(namespace, kind, name)
        if check(obj):
            return obj
        assert time.monotonic() < deadline, f"{kind}/{name}: condition not met; status: {obj.get('status')}"
        time.sleep(0.1)


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def ready(obj: dict) -> bool:
    return condition(obj, "Ready").get("status") == "True"


def stored_rows(namespace: str) -> list[str]:
    async def scan() -> list[str]:
        store = HBaseStore(dataclasses.replace(hbase_settings(), pool_size=1))
        try:
            return [key for table in ("NodeHB", "WorkflowHB") for key in await store.scan_keys(table, f"{namespace}/")]
        finally:
            store.close()

    return asyncio.run(scan())


def test_definitions_become_ready_with_a_version(drift_operator, namespace):
    apply(namespace, FETCH_ORDER, ISSUE_REFUND, REFUND_APPROVAL)
    workflow = wait_for(namespace, "workflow", "refund-approval", ready)
    node = get(namespace, "nodedefinition", "fetch-order")
    assert ready(node)
    assert len(node["status"]["version"]) == 12
    assert workflow["status"]["observedGeneration"] == workflow["metadata"]["generation"]
    assert {c["type"]: (c["status"], c["reason"]) for c in workflow["status"]["conditions"]} == {
        "Ready": ("True", "Synced"),
        "Reconciling": ("False", "Synced"),
        "Stalled": ("False", "Synced"),
    }
    assert "kopf" not in json.dumps(workflow["status"]), "kopf's bookkeeping stays out of status"
    assert len(stored_rows(namespace)) == 3


def _wait_until_every_ready_workflow_resumed(drift_operator, timeout: float = 60) -> None:
    """The positive signal after a restart: the operator has synced as many Workflows as the cluster has Ready
    (its resume handler syncs each one, so ours is among them once the count is reached)."""
    workflows = json.loads(kubectl("get", "workflows", "-A", "-o", "json").stdout)["items"]
    expected = sum(
        1
        for workflow in workflows
        if not workflow["metadata"].get("deletionTimestamp") and condition(workflow, "Ready").get("status") == "True"
    )
    sample = 'drift_operator_reconciles_total{kind="Workflow",result="synced"} '
    deadline = time.monotonic() + timeout
    synced = 0.0
    while time.monotonic() < deadline:
        try:
            lines = [line for line in drift_operator.metrics().splitlines() if line.startswith(sample)]
        except OSError:  # not listening yet
            lines = []
        synced = float(lines[0].split()[-1]) if lines else 0.0
        if synced >= expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"the restarted operator synced {synced:.0f} of {expected} Ready Workflows in {timeout:.0f}s")


def test_identical_reapply_and_restart_write_nothing(drift_operator, namespace):
    apply(namespace, FETCH_ORDER, ISSUE_REFUND, REFUND_APPROVAL)
    before = wait_for(namespace, "workflow", "refund-approval", ready)
    rows = stored_rows(namespace)
    apply(namespace, FETCH_ORDER, ISSUE_REFUND, REFUND_APPROVAL)
    kubectl("label", "workflow", "refund-approval", "-n", namespace, "team=support")
    wait_for(
        namespace,
        "workflow",
        "refund-approval",
        lambda o: "team" in o["metadata"]["annotations"].get("kopf.drift.dev/last-handled-configuration", ""),
    )
    drift_operator.restart()
    _wait_until_every_ready_workflow_resumed(drift_operator)
    after = get(namespace, "workflow", "refund-approval")
    assert after["status"]["version"] == before["status"]["version"]
    assert after["status"]["conditions"] == before["status"]["conditions"]
    assert stored_rows(namespace) == rows


def test_a_workflow_applied_before_its_nodes_becomes_ready_when_they_arrive(drift_operator, namespace):
    apply(namespace, REFUND_APPROVAL)
    stalled = wait_for(
        namespace, "workflow", "refund-approval", lambda o: condition(o, "Stalled").get("status") == "True"
    )
    assert condition(stalled, "Ready")["reason"] == "UnknownNodeRef"
    assert 'node "fetch-order"' in condition(stalled, "Ready")["message"]
    assert condition(stalled, "Reconciling")["status"] == "False"
    apply(namespace, FETCH_ORDER, ISSUE_REFUND)
    wait_for(namespace, "workflow", "refund-approval", ready)


def test_a_bad_graph_is_stalled_naming_the_node(drift_operator, namespace):
    bad = json.loads(json.dumps(REFUND_APPROVAL))
    bad["spec"]["nodes"].append({"name": "orphan", "type": "success"})
    apply(namespace, FETCH_ORDER, ISSUE_REFUND, bad)
    obj = wait_for(namespace, "workflow", "refund-approval", lambda o: condition(o, "Stalled").get("status") == "True")
    assert condition(obj, "Ready")["reason"] == "UnreachableNode"
    assert 'node "orphan"' in condition(obj, "Ready")["message"]
    assert "version" not in obj["status"]


def test_editing_a_node_definition_gives_the_workflow_a_new_version(drift_operator, namespace):
    apply(namespace, FETCH_ORDER, ISSUE_REFUND, REFUND_APPROVAL)
    first = wait_for(namespace, "workflow", "refund-approval", ready)["status"]["version"]
    edited = json.loads(json.dumps(ISSUE_REFUND))
    edited["spec"]["script"]["expression"] = "{'refunded': false}"
    apply(namespace, edited)
    second = wait_for(
        namespace, "workflow", "refund-approval", lambda o: o["status"].get("version") not in (None, first)
    )
    assert ready(second)


def _run(name: str, workflow: str, run_input: dict) -> dict:
    return {
        "apiVersion": "drift.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {"name": name},
        "spec": {"workflowRef": {"name": workflow}, "input": run_input},
    }


def _executions(stack_env, workflow_id: str) -> list[str]:
    async def listed() -> list[str]:
        address, temporal_namespace = stack_env["DRIFT_TEMPORAL_ADDRESS"], stack_env["DRIFT_TEMPORAL_NAMESPACE"]
        client = await Client.connect(address, namespace=temporal_namespace)
        return [execution.run_id async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'")]

    return asyncio.run(listed())


def test_a_run_waits_for_its_workflow_then_starts_exactly_once(drift_operator, namespace, stack_env):
    apply(namespace, _run("early", "refund-approval", {"orderId": "A-1"}))
    pending = wait_for(namespace, "workflowrun", "early", lambda o: o.get("status", {}).get("phase"))
    assert pending["status"]["phase"] == "Pending"
    assert condition(pending, "Succeeded")["reason"] == "WorkflowNotFound"
    apply(namespace, REFUND_APPROVAL, FETCH_ORDER, ISSUE_REFUND)
    running = wait_for(namespace, "workflowrun", "early", lambda o: o["status"].get("phase") == "Running")
    execution = running["status"]["execution"]
    assert execution["workflowId"] == f"{namespace}/early/{running['metadata']['uid']}"
    assert running["status"]["workflowVersion"] == get(namespace, "workflow", "refund-approval")["status"]["version"]

    drift_operator.restart()
    time.sleep(2)
    deadline = time.monotonic() + 15
    while not (runs := _executions(stack_env, execution["workflowId"])):  # visibility lags a little
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert runs == [execution["runId"]]
    assert get(namespace, "workflowrun", "early")["status"]["execution"] == execution


def test_invalid_input_fails_the_run_naming_the_field(drift_operator, namespace):
    apply(namespace, FETCH_ORDER, ISSUE_REFUND, REFUND_APPROVAL, _run("bad-input", "refund-approval", {"orderId": 5}))
    failed = wait_for(namespace, "workflowrun", "bad-input", lambda o: o.get("status", {}).get("phase") == "Failed")
    assert condition(failed, "Succeeded")["reason"] == "InvalidInput"
    assert condition(failed, "Stalled")["status"] == "True"
    assert "input.orderId" in failed["status"]["message"]
    assert "execution" not in failed["status"]


def test_run_events_reach_the_status_within_a_second_and_stale_ones_are_ignored(drift_operator, namespace, stack_env):
    apply(namespace, FETCH_ORDER, ISSUE_REFUND, REFUND_APPROVAL, _run("evented", "refund-approval", {"orderId": "A"}))
    running = wait_for(namespace, "workflowrun", "evented", lambda o: o.get("status", {}).get("phase") == "Running")
    channel = run_events_channel(stack_env.get("DRIFT_TABLE_PREFIX", "drift_"))
    client = redis.Redis.from_url(stack_env["DRIFT_REDIS_URL"])
    workflow_id = running["status"]["execution"]["workflowId"]
    now = datetime.now(UTC)
    waiting = RunSnapshot(
        sequence=3,
        phase="Waiting",
        current_node="manager-approval",
        nodes_completed=2,
        waiting_for={"node": "manager-approval", "message": "Refund 120?", "options": ["approve"], "since": now},
        started_at=now,
    )
    published = time.monotonic()
    client.publish(channel, RunEvent(workflow_id=workflow_id, snapshot=waiting).model_dump_json())
    obj = wait_for(namespace, "workflowrun", "evented", lambda o: o["status"].get("phase") == "Waiting", timeout=5)
    assert time.monotonic() - published < 1.0
    assert obj["status"]["waitingFor"]["node"] == "manager-approval"
    assert condition(obj, "Succeeded")["reason"] == "WaitingForInput"

    older = waiting.model_copy(update={"sequence": 2, "phase": "Running", "waiting_for": None})
    client.publish(channel, RunEvent(workflow_id=workflow_id, snapshot=older).model_dump_json())
    time.sleep(0.6)
    assert get(namespace, "workflowrun", "evented")["status"]["phase"] == "Waiting"
    events = kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert '"reason": "Waiting"' in events
    assert 'drift_operator_reconciles_total{kind="Workflow",result="synced"}' in drift_operator.metrics()


RUN_REASONS = {"redis": "WorkflowNotFound", "hbase": "HBaseUnavailable"}
"""Why a run of a missing workflow waits during the outage (without Redis, reads fall back to HBase)."""


@pytest.mark.parametrize(("service", "reason"), [("redis", "RedisUnavailable"), ("hbase", "HBaseUnavailable")])
def test_a_backend_outage_is_reported_and_retried_until_it_is_back(
    drift_operator, namespace, stack_env, service, reason
):
    stack_command(stack_env, "down", service)
    try:
        apply(namespace, FETCH_ORDER, ISSUE_REFUND, REFUND_APPROVAL, _run("orphan", "missing", {}))
        for kind, name in (("nodedefinition", "fetch-order"), ("workflow", "refund-approval")):
            waiting = wait_for(namespace, kind, name,
                               lambda obj: condition(obj, "Ready").get("reason") == reason, timeout=60)  # fmt: skip
            assert condition(waiting, "Ready")["status"] == "False"
            assert service.lower() in condition(waiting, "Ready")["message"].lower()
            assert condition(waiting, "Reconciling")["status"] == "True", "retried: reconciling, not stalled"
            assert condition(waiting, "Stalled")["status"] == "False"
        expected = RUN_REASONS[service]
        run = wait_for(namespace, "workflowrun", "orphan",
                       lambda obj: condition(obj, "Succeeded").get("reason") == expected, timeout=60)  # fmt: skip
        assert run["status"]["phase"] == "Pending"
        listed = kubectl("get", "nodedefinitions,workflows,workflowruns", "-n", namespace, "-o", "json").stdout
        assert {status for status, _ in kstatus(listed).values()} == {"InProgress"}
        assert drift_operator.process.poll() is None, "an outage never crashes the operator"
    finally:
        stack_command(stack_env, "up", service)
    wait_for(namespace, "workflow", "refund-approval", ready, timeout=90)
