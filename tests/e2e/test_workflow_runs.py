"""WorkflowRuns driven as a user drives them (kubectl), with the operator and the worker running."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import yaml
from temporalio.client import Client

from tests.conftest import kubectl
from tests.e2e.conftest import eventually

pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")


def definitions(namespace: str, orders_url: str) -> list[dict]:
    """The refund-approval flow of API.md against the test's order service."""
    meta = {"namespace": namespace}
    return [
        {"apiVersion": "drift.dev/v1alpha1", "kind": "NodeDefinition", "metadata": {"name": "fetch-order", **meta},
         "spec": {"type": "http", "http": {"url": orders_url + "/api/orders/{{ input.orderId }}"},
                  "output": {"key": "order", "expression": "result.body"},
                  "retry": {"maxAttempts": 2, "initialIntervalSeconds": 0.2}}},
        {"apiVersion": "drift.dev/v1alpha1", "kind": "NodeDefinition", "metadata": {"name": "issue-refund", **meta},
         "spec": {"type": "http", "http": {"method": "POST", "url": orders_url + "/api/refunds",
                                           "body": {"orderId": "{{ input.orderId }}",
                                                    "amount": "{{ context.order.amount }}"}},
                  "output": {"expression": "result.body"}}},
        {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "refund-approval", **meta},
         "spec": {
             "startAt": "fetch-order", "onFailure": "notify-failure",
             "inputSchema": {"type": "object", "required": ["orderId"], "properties": {"orderId": {"type": "string"}}},
             "nodes": [
                 {"name": "fetch-order", "ref": {"name": "fetch-order"}, "next": "check-amount"},
                 {"name": "check-amount", "type": "branch", "default": "auto-refund",
                  "choices": [{"when": "context.order.amount > 100", "next": "manager-approval"}]},
                 {"name": "manager-approval", "type": "instruction", "next": "decide",
                  "instruction": {"message": "Refund {{ context.order.amount }}?", "options": ["approve", "reject"]}},
                 {"name": "decide", "type": "branch", "default": "rejected",
                  "choices": [{"when": "context['manager-approval'].choice == 'approve'", "next": "auto-refund"}]},
                 {"name": "auto-refund", "ref": {"name": "issue-refund"}, "next": "done"},
                 {"name": "done", "type": "success",
                  "success": {"output": "{'refunded': context.order.amount, 'refund': context['auto-refund']}"}},
                 {"name": "rejected", "type": "failure",
                  "failure": {"code": "REJECTED", "message": "Manager rejected"}},
                 {"name": "notify-failure", "type": "failure",
                  "failure": {"code": "REFUND_FAILED", "message": "{{ error.message }}"}},
             ]}},
    ]  # fmt: skip


def apply(*manifests: dict) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))


def run_manifest(namespace: str, name: str, order: str, workflow: str = "refund-approval") -> dict:
    metadata = {"name": name, "namespace": namespace}
    spec = {"workflowRef": {"name": workflow}, "input": {"orderId": order}}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun", "metadata": metadata, "spec": spec}


def status(namespace: str, name: str) -> dict:
    return json.loads(kubectl("get", "wfr", name, "-n", namespace, "-o", "json").stdout).get("status", {})


def wait_for(namespace: str, name: str, condition: str, timeout: int = 60) -> None:
    kubectl("wait", f"wfr/{name}", "-n", namespace, f"--for={condition}", f"--timeout={timeout}s")


def ready(namespace: str) -> None:
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "nodedefinitions", "--all")
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflow/refund-approval")


def resume(namespace: str, name: str, *entries: dict) -> None:
    current = json.loads(kubectl("get", "wfr", name, "-n", namespace, "-o", "json").stdout)["spec"].get("resume", [])
    patch = {"spec": {"resume": [*current, *entries]}}
    kubectl("patch", "wfr", name, "-n", namespace, "--type=merge", "-p", json.dumps(patch))


def condition(state: dict, kind: str) -> dict:
    return next(c for c in state["conditions"] if c["type"] == kind)


def test_refund_approval_end_to_end(namespace, samples_backend):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    apply(run_manifest(namespace, "refund-1", "A-1"))
    wait_for(namespace, "refund-1", "jsonpath={.status.phase}=Waiting")
    waiting = status(namespace, "refund-1")
    assert waiting["waitingFor"]["node"] == "manager-approval"
    assert waiting["waitingFor"]["message"] == "Refund 120?"
    assert waiting["waitingFor"]["options"] == ["approve", "reject"]
    assert waiting["currentNode"] == "manager-approval"
    assert condition(waiting, "Succeeded")["status"] == "Unknown"
    assert condition(waiting, "Reconciling")["reason"] == "WaitingForInput"
    columns = kubectl("get", "wfr", "refund-1", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert columns[0].split() == ["NAME", "PHASE", "WORKFLOW", "VERSION", "NODE", "AGE", "DURATION", "MESSAGE"]
    assert columns[1].split()[:5] == ["refund-1", "Waiting", "refund-approval", waiting["workflowVersion"],
                                      "manager-approval"]  # fmt: skip

    resume(namespace, "refund-1", {"node": "manager-approval", "input": {"choice": "maybe"}})
    wait_for(namespace, "refund-1", "jsonpath={.status.resumesDelivered}=1")
    assert "input.choice must be one of approve, reject" in status(namespace, "refund-1")["message"]
    events = kubectl("get", "events", "-n", namespace, "--field-selector", "reason=ResumeRefused", "-o", "name").stdout
    assert events.strip(), "a refused resume entry is reported as an Event"

    resume(namespace, "refund-1", {"node": "manager-approval", "input": {"choice": "approve"}})
    wait_for(namespace, "refund-1", "condition=Succeeded")
    done = status(namespace, "refund-1")
    assert done["phase"] == "Succeeded"
    assert done["output"] == {"refunded": 120, "refund": {"refundId": "R-A-1", "amount": 120}}
    assert done["finishedAt"] >= done["startedAt"]
    assert done["duration"]
    assert [n["name"] for n in done["nodes"]][:3] == ["fetch-order", "check-amount", "manager-approval"]
    assert samples_backend.calls["GET /api/orders/A-1"] == 1
    assert samples_backend.calls["POST /api/refunds"] == 1


def test_small_refunds_skip_approval_and_failures_reach_the_failure_node(namespace, samples_backend):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    apply(run_manifest(namespace, "small", "A-9-small"), run_manifest(namespace, "broken", "broken-1"))
    wait_for(namespace, "small", "condition=Succeeded")
    small = status(namespace, "small")
    assert (small["phase"], small["message"], small["output"]["refunded"]) == ("Succeeded", "Succeeded", 20)
    wait_for(namespace, "broken", "jsonpath={.status.phase}=Failed")
    failed = status(namespace, "broken")
    assert failed["error"]["code"] == "REFUND_FAILED"
    assert failed["error"]["node"] == "fetch-order"
    assert failed["error"]["message"].startswith("GET /api/orders/broken-1 answered 500")
    assert failed["message"] == failed["error"]["message"]  # the failure node's message: "{{ error.message }}"
    assert condition(failed, "Succeeded")["status"] == "False"
    assert condition(failed, "Stalled")["status"] == "True"
    assert samples_backend.calls["GET /api/orders/broken-1"] == 2, "retried by the node's policy (2 attempts)"


def test_runs_applied_before_their_workflow_start_when_it_appears(namespace, samples_backend):
    apply(run_manifest(namespace, "early", "A-2"))
    wait_for(namespace, "early", "jsonpath={.status.phase}=Pending")
    assert condition(status(namespace, "early"), "Reconciling")["reason"] == "WorkflowNotFound"
    apply(*definitions(namespace, samples_backend.url))
    wait_for(namespace, "early", "jsonpath={.status.phase}=Waiting", timeout=90)


def test_invalid_input_fails_naming_the_field(namespace, samples_backend):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    bad = run_manifest(namespace, "bad-input", "x")
    bad["spec"]["input"] = {"orderId": 42}
    apply(bad)
    wait_for(namespace, "bad-input", "jsonpath={.status.phase}=Failed")
    failed = status(namespace, "bad-input")
    assert condition(failed, "Stalled")["reason"] == "InvalidInput"
    assert "input.orderId: 42 is not of type 'string'" in condition(failed, "Stalled")["message"]


async def _execution(address: str, workflow_id: str) -> tuple[str, int]:
    client = await Client.connect(address)
    runs = [run async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return (await client.get_workflow_handle(workflow_id).describe()).status.name, len(runs)


def execution(stack_env: dict, workflow_id: str) -> tuple[str, int]:
    """(Temporal status, number of executions) of a run's workflow id."""
    return asyncio.run(_execution(stack_env["DRIFT_TEMPORAL_ADDRESS"], workflow_id))


def workflow_id(namespace: str, name: str) -> str:
    return status(namespace, name)["execution"]["workflowId"]


def test_cancel_and_delete_stop_the_execution(namespace, samples_backend, stack_env):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    apply(run_manifest(namespace, "to-cancel", "A-3"), run_manifest(namespace, "to-delete", "A-4"))
    wait_for(namespace, "to-cancel", "jsonpath={.status.phase}=Waiting")
    wait_for(namespace, "to-delete", "jsonpath={.status.phase}=Waiting")
    kubectl("patch", "wfr", "to-cancel", "-n", namespace, "--type=merge", "-p", '{"spec":{"cancel":true}}')
    wait_for(namespace, "to-cancel", "jsonpath={.status.phase}=Cancelled")
    assert condition(status(namespace, "to-cancel"), "Succeeded")["status"] == "False"
    assert execution(stack_env, workflow_id(namespace, "to-cancel"))[0] == "CANCELED"

    deleted = workflow_id(namespace, "to-delete")
    kubectl("delete", "wfr", "to-delete", "-n", namespace, "--timeout=60s")  # no finalizer holds it
    eventually(lambda: execution(stack_env, deleted)[0] == "TERMINATED", "the deleted run's execution terminated")


def test_operator_restart_mid_run_starts_nothing_twice(namespace, samples_backend, stack_env, drift_operator):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    apply(run_manifest(namespace, "survivor", "A-5"))
    wait_for(namespace, "survivor", "jsonpath={.status.phase}=Waiting")
    drift_operator.stop()
    resume(namespace, "survivor", {"node": "manager-approval", "input": {"choice": "approve"}})
    time.sleep(1)
    drift_operator.start()
    wait_for(namespace, "survivor", "condition=Succeeded", timeout=90)
    assert execution(stack_env, workflow_id(namespace, "survivor")) == ("COMPLETED", 1)
    assert samples_backend.calls["GET /api/orders/A-5"] == 1


def test_definition_edits_never_change_runs_in_flight(namespace, samples_backend):
    manifests = definitions(namespace, samples_backend.url)
    apply(*manifests)
    ready(namespace)
    apply(run_manifest(namespace, "pinned", "A-6"))
    wait_for(namespace, "pinned", "jsonpath={.status.phase}=Waiting")
    first_version = status(namespace, "pinned")["workflowVersion"]

    workflow = manifests[2]
    done = next(n for n in workflow["spec"]["nodes"] if n["name"] == "done")
    done["success"]["output"] = "{'edited': true}"
    apply(workflow)
    for _ in range(120):  # the operator stores the edit as a new version
        query = ["get", "workflow", "refund-approval", "-n", namespace, "-o", "jsonpath={.status.version}"]
        if kubectl(*query).stdout not in ("", first_version):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the edited workflow never got a new version")
    resume(namespace, "pinned", {"node": "manager-approval", "input": {"choice": "approve"}})
    wait_for(namespace, "pinned", "condition=Succeeded")
    assert "refunded" in status(namespace, "pinned")["output"]

    apply(run_manifest(namespace, "after-edit", "A-7"))
    wait_for(namespace, "after-edit", "jsonpath={.status.phase}=Waiting")
    assert status(namespace, "after-edit")["workflowVersion"] != first_version


def test_a_workflow_timeout_ends_the_run_timed_out(namespace, samples_backend):
    slow = {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "slow", "namespace": namespace},
            "spec": {"startAt": "ask", "timeoutSeconds": 2, "nodes": [
                {"name": "ask", "type": "instruction", "instruction": {"message": "never answered"}, "next": "done"},
                {"name": "done", "type": "success"}]}}  # fmt: skip
    apply(slow)
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflow/slow")
    apply(run_manifest(namespace, "too-slow", "A-8", workflow="slow"))
    wait_for(namespace, "too-slow", "jsonpath={.status.phase}=TimedOut", timeout=90)
    timed_out = status(namespace, "too-slow")
    assert condition(timed_out, "Succeeded")["status"] == "False"
    assert condition(timed_out, "Stalled")["reason"] == "TimedOut"


def test_both_processes_expose_their_metrics(drift_operator, drift_worker):
    worker = drift_worker.metrics()
    for family in ("drift_node_executions_total", "drift_node_duration_seconds", "drift_context_persist_seconds",
                   "drift_cache_requests_total"):  # fmt: skip
        assert f"\n{family}" in worker, family
    assert 'drift_node_executions_total{result="Succeeded",type="http"}' in worker
    operator = drift_operator.metrics()
    assert 'drift_operator_reconciles_total{kind="Workflow",result="synced"}' in operator
    assert "drift_operator_runs{" in operator


def test_two_refs_to_one_node_definition_each_run_their_own_version(namespace):
    def answer(value: str) -> dict:
        spec = {"type": "script", "script": {"expression": f"'{value}'"}}
        metadata = {"name": "answer", "namespace": namespace}
        return {"apiVersion": "drift.dev/v1alpha1", "kind": "NodeDefinition", "metadata": metadata, "spec": spec}

    def version() -> str:
        out = kubectl("get", "nodedefinition", "answer", "-n", namespace, "-o", "jsonpath={.status.version}")
        return out.stdout

    apply(answer("v1"))
    kubectl("wait", "--for=jsonpath={.status.version}", "-n", namespace, "--timeout=60s", "nodedefinition/answer")
    first = version()
    apply(answer("v2"))
    deadline = time.monotonic() + 60
    while version() == first:
        assert time.monotonic() < deadline, "the second version was never stored"
        time.sleep(0.2)
    workflow = {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow",
                "metadata": {"name": "two-pins", "namespace": namespace},
                "spec": {"startAt": "pinned", "nodes": [
                    {"name": "pinned", "ref": {"name": "answer", "version": first}, "next": "latest"},
                    {"name": "latest", "ref": {"name": "answer"}, "next": "done"},
                    {"name": "done", "type": "success", "success": {"output": "[context.pinned, context.latest]"}},
                ]}}  # fmt: skip
    apply(workflow)
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflow/two-pins")
    run = run_manifest(namespace, "two-pins-1", "-", workflow="two-pins")
    run["spec"].pop("input")
    apply(run)
    wait_for(namespace, "two-pins-1", "condition=Succeeded")
    assert status(namespace, "two-pins-1")["output"] == ["v1", "v2"]
