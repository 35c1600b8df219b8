"""Definitions and runs over their whole life, driven with kubectl: deletes, run TTLs, context retention.

The operator here keeps finished runs 20 s by default (DRIFT_RUN_TTL_SECONDS) and their contexts 30 s
(DRIFT_CONTEXT_RETENTION_DAYS), so expiry is seen within a test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import yaml
from temporalio.client import Client

from drift.settings import hbase_settings
from drift.storage.hbase import HBaseStore
from tests.conftest import DriftProcess, kubectl
from tests.e2e.conftest import condition, eventually

pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")
RUN_TTL_SECONDS = 20
CONTEXT_RETENTION_SECONDS = 30


@pytest.fixture(scope="module")
def drift_operator(stack_env, crds_installed, tmp_path_factory) -> Iterator[DriftProcess]:
    """The operator with a default run TTL and a short context retention."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    retention_days = str(CONTEXT_RETENTION_SECONDS / 86400)
    process = DriftProcess(
        "drift_operator.main",
        stack_env,
        log,
        DRIFT_RUN_TTL_SECONDS=str(RUN_TTL_SECONDS),
        DRIFT_CONTEXT_RETENTION_DAYS=retention_days,
    )
    process.start()
    yield process
    process.stop()


def greet(namespace: str, expression: str = "{'hello': input.name}") -> dict:
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "NodeDefinition",
            "metadata": {"name": "greet", "namespace": namespace},
            "spec": {"type": "script", "script": {"expression": expression}}}  # fmt: skip


def hello(namespace: str, ask: bool = True) -> dict:
    """greet (a NodeDefinition), then an instruction when `ask`, then success."""
    nodes = [{"name": "greet", "ref": {"name": "greet"}, "next": "ask" if ask else "done"},
             {"name": "done", "type": "success", "success": {"output": "context.greet"}}]  # fmt: skip
    if ask:
        nodes.append({"name": "ask", "type": "instruction", "instruction": {"message": "go on?"}, "next": "done"})
    metadata = {"name": "hello", "namespace": namespace}
    spec = {"startAt": "greet", "nodes": nodes}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": metadata, "spec": spec}


def run(namespace: str, name: str, ttl: int | None = 3600) -> dict:
    spec: dict[str, Any] = {"workflowRef": {"name": "hello"}, "input": {"name": name}}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}  # fmt: skip


def apply(*manifests: dict) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))


def get(namespace: str, kind: str, name: str) -> dict:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def wait_phase(namespace: str, name: str, phase: str, reason: str | None = None, timeout: float = 60) -> dict:
    def reached() -> dict | None:
        obj = get(namespace, "wfr", name)
        status = obj.get("status", {})
        if status.get("phase") == phase and reason in (None, condition(obj, "Succeeded").get("reason")):
            return obj
        return None

    return eventually(reached, f"run {name} {phase} {reason or ''}", timeout)


def ready(namespace: str, kind: str, name: str) -> None:
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", f"{kind}/{name}")


def answer(namespace: str, name: str) -> None:
    patch = {"spec": {"resume": [{"node": "ask", "input": {}}]}}
    kubectl("patch", "wfr", name, "-n", namespace, "--type=merge", "-p", json.dumps(patch))


def hbase(operation: Callable[[HBaseStore], Any]) -> Any:
    async def call() -> Any:
        store = HBaseStore(dataclasses.replace(hbase_settings(), pool_size=1))
        try:
            return await operation(store)
        finally:
            store.close()

    return asyncio.run(call())


def pointer(stack_env: dict, kind: str, ref: str) -> tuple[str | None, bytes | None]:
    """(HBase LatestHB pointer, Redis pointer value) of `{namespace}/{name}`."""
    prefix = stack_env.get("DRIFT_TABLE_PREFIX", "drift_")
    cached = redis.Redis.from_url(stack_env["DRIFT_REDIS_URL"]).get(f"{prefix}latest:{kind}:{ref}")
    return hbase(lambda store: store.get_latest(kind, ref)), cached


def withdrawn(stack_env: dict, kind: str, ref: str) -> bool:
    return pointer(stack_env, kind, ref) in ((None, b"-"), (None, None))


def test_a_deleted_workflow_starts_no_new_runs_until_applied_again(namespace, stack_env):
    apply(greet(namespace), hello(namespace))
    ready(namespace, "workflow", "hello")
    apply(run(namespace, "in-flight"))
    pinned = wait_phase(namespace, "in-flight", "Waiting")["status"]["workflowVersion"]
    assert pointer(stack_env, "workflow", f"{namespace}/hello")[0] == pinned

    kubectl("delete", "workflow", "hello", "-n", namespace)
    eventually(lambda: withdrawn(stack_env, "workflow", f"{namespace}/hello"), "the pointer withdrawn")
    apply(run(namespace, "after-delete"))
    held = wait_phase(namespace, "after-delete", "Pending", "WorkflowNotFound")
    assert "execution" not in held["status"]

    answer(namespace, "in-flight")  # its pinned version is still stored
    assert wait_phase(namespace, "in-flight", "Succeeded")["status"]["output"] == {"hello": "in-flight"}

    apply(hello(namespace))
    assert wait_phase(namespace, "after-delete", "Waiting")["status"]["workflowVersion"] == pinned


def test_a_deleted_node_definition_stalls_its_workflow_and_holds_new_runs(namespace):
    apply(greet(namespace), hello(namespace))
    ready(namespace, "workflow", "hello")
    version = get(namespace, "workflow", "hello")["status"]["version"]
    apply(run(namespace, "in-flight"))
    wait_phase(namespace, "in-flight", "Waiting")

    kubectl("delete", "nodedefinition", "greet", "-n", namespace)

    def lost_its_ref() -> dict | None:
        workflow = get(namespace, "workflow", "hello")
        return workflow if condition(workflow, "Ready").get("reason") == "UnknownNodeRef" else None

    stalled = eventually(lost_its_ref, "the workflow to lose its ref")
    assert condition(stalled, "Stalled")["status"] == "True"
    assert stalled["status"]["version"] == version, "its stored version stays"
    apply(run(namespace, "held"))
    held = wait_phase(namespace, "held", "Pending", "WorkflowNotReady")
    assert 'NodeDefinition "greet"' in held["status"]["message"]

    answer(namespace, "in-flight")
    wait_phase(namespace, "in-flight", "Succeeded")

    apply(greet(namespace))
    ready(namespace, "workflow", "hello")
    assert wait_phase(namespace, "held", "Waiting")["status"]["workflowVersion"] == version


def test_a_definition_deleted_while_the_operator_is_down_is_withdrawn_when_it_starts(
    namespace, stack_env, drift_operator
):
    apply(greet(namespace), hello(namespace))
    ready(namespace, "workflow", "hello")
    assert pointer(stack_env, "workflow", f"{namespace}/hello")[0]
    drift_operator.stop()
    try:
        kubectl("delete", "workflow", "hello", "-n", namespace)
    finally:
        drift_operator.start()
    eventually(lambda: withdrawn(stack_env, "workflow", f"{namespace}/hello"), "the pointer withdrawn")
    apply(run(namespace, "late"))
    wait_phase(namespace, "late", "Pending", "WorkflowNotFound")


async def _describe(address: str, workflow_id: str) -> str:
    client = await Client.connect(address)
    return (await client.get_workflow_handle(workflow_id).describe()).status.name


def test_finished_runs_expire_leaving_their_execution_and_context_until_retention(namespace, stack_env):
    apply(greet(namespace), hello(namespace, ask=False))
    ready(namespace, "workflow", "hello")
    apply(run(namespace, "short", ttl=2), run(namespace, "default", ttl=None), run(namespace, "kept"))
    done = wait_phase(namespace, "short", "Succeeded")
    execution = done["status"]["execution"]["workflowId"]

    kubectl("wait", "--for=delete", "-n", namespace, "--timeout=60s", "wfr/short")
    gone_after = time.time()
    assert asyncio.run(_describe(stack_env["DRIFT_TEMPORAL_ADDRESS"], execution)) == "COMPLETED", "not terminated"
    context = hbase(lambda store: store.get_context(execution))
    assert context is not None
    assert "short" in context.decode()

    kubectl("wait", "--for=delete", "-n", namespace, f"--timeout={RUN_TTL_SECONDS + 60}s", "wfr/default")
    assert get(namespace, "wfr", "kept")["status"]["phase"] == "Succeeded"

    eventually(lambda: hbase(lambda store: store.get_context(execution)) is None, "the context's retention", 90)
    assert time.time() - gone_after > CONTEXT_RETENTION_SECONDS - 10, "the context outlived its run"
