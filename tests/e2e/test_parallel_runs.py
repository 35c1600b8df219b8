"""Parallel work through kubectl: the sample's branches, map and compensation; resume by path; sub-workflows."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.conftest import REPO_ROOT, kubectl
from tests.e2e.conftest import condition, eventually, sample_documents
from tests.e2e.test_cli import drift
from tests.e2e.test_workflow_runs import status

pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")


def _apply(*manifests: dict) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))


def _workflow(namespace: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}  # fmt: skip


def _run(namespace: str, name: str, workflow: str, run_input: dict | None = None) -> dict:
    metadata = {"name": name, "namespace": namespace}
    spec = {"workflowRef": {"name": workflow}, "input": run_input or {}}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun", "metadata": metadata, "spec": spec}


def _get(namespace: str, kind: str, name: str) -> dict:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def _resume(namespace: str, name: str, entries: list[dict]) -> None:
    kubectl("patch", "wfr", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"resume": entries}}))


def test_the_order_sample_joins_branches_maps_lines_and_compensates_the_refused_one(namespace, samples_backend):
    sample = REPO_ROOT / "config" / "samples" / "50-order-fulfilment.yaml"
    _apply(*sample_documents(sample, namespace, samples_backend.url))
    kubectl("wait", "wfr/order-2001", "-n", namespace, "--timeout=90s", "--for=jsonpath={.status.phase}=Succeeded")
    done = status(namespace, "order-2001")
    assert done["output"] == {"checks": {"credit": {"approved": True}, "fraud": {"clean": True}}, "shipped": 2}
    assert done["compensations"] == [
        {"node": "release", "undoes": "reserve", "path": "ship-lines[1]", "phase": "Succeeded"}
    ]
    assert [node["name"] for node in done["nodes"]] == ["checks", "ship-lines", "done"]
    described = drift("describe", "run", "order-2001", "-n", namespace)
    assert "Compensations:" in described.stdout
    assert "ship-lines[1]" in described.stdout
    assert "active" not in done
    assert "maps" not in done


def test_resume_into_a_map_item_by_path_and_a_refusal_with_its_reason(namespace):
    ask = {"name": "ask", "type": "instruction", "next": "answered",
           "instruction": {"message": "ship {{ item }}?", "options": ["yes", "no"]}}  # fmt: skip
    _apply(_workflow(namespace, "ask-each", {"startAt": "each", "nodes": [
        {"name": "each", "type": "map", "map": {"items": "input.items", "startAt": "ask"}, "next": "done"},
        ask,
        {"name": "answered", "type": "success", "success": {"output": "context.ask.choice"}},
        {"name": "done", "type": "success", "success": {"output": "context.each"}},
    ]}), _run(namespace, "ask-2", "ask-each", {"items": ["desk", "bed"]}))  # fmt: skip
    waiting = eventually(lambda: (s := status(namespace, "ask-2")).get("phase") == "Waiting" and
                       len(s.get("waiting", [])) == 2 and s, "both items waiting")  # fmt: skip
    assert waiting["currentNode"] == "map each 0/2"
    assert {(w["path"], w["message"]) for w in waiting["waiting"]} == {
        ("each[0]", "ship desk?"),
        ("each[1]", "ship bed?"),
    }
    _resume(namespace, "ask-2", [{"node": "ask", "input": {"choice": "yes"}}])
    refused = eventually(lambda: (s := status(namespace, "ask-2")).get("resumesDelivered") == 1 and s, "a refusal")
    assert 'instruction "ask" has 2 instances waiting: give a path such as each[0]' in refused["message"]
    answered = drift("resume", "ask-2", "-n", namespace, "--node", "ask", "--path", "each[1]", "--choice", "no")
    assert "workflowrun/ask-2 resume[1] accepted" in answered.stdout, answered.stderr
    _resume(namespace, "ask-2", [{"node": "ask", "input": {"choice": "yes"}},
                                 {"node": "ask", "path": "each[1]", "input": {"choice": "no"}},
                                 {"node": "ask", "path": "each[0]", "input": {"choice": "yes"}}])  # fmt: skip
    kubectl("wait", "wfr/ask-2", "-n", namespace, "--timeout=60s", "--for=jsonpath={.status.phase}=Succeeded")
    assert status(namespace, "ask-2")["output"] == ["yes", "no"]


def test_a_sub_workflow_runs_pinned_and_a_cycle_is_refused(namespace):
    child = {"startAt": "charge", "nodes": [
        {"name": "charge", "type": "success", "success": {"output": "{'charged': input.amount}"}}]}  # fmt: skip
    parent = {"startAt": "pay", "nodes": [
        {"name": "pay", "type": "workflow", "next": "done",
         "workflow": {"ref": {"name": "collect"}, "input": {"amount": "{{ input.total }}"}}},
        {"name": "done", "type": "success", "success": {"output": "context.pay"}}]}  # fmt: skip
    _apply(_workflow(namespace, "collect", child))
    kubectl("wait", "workflow/collect", "-n", namespace, "--timeout=60s", "--for=condition=Ready")
    _apply(_workflow(namespace, "checkout", parent), _run(namespace, "checkout-1", "checkout", {"total": 7}))
    kubectl("wait", "wfr/checkout-1", "-n", namespace, "--timeout=90s", "--for=jsonpath={.status.phase}=Succeeded")
    assert status(namespace, "checkout-1")["output"] == {"charged": 7}
    looping = {"startAt": "back", "nodes": [
        {"name": "back", "type": "workflow", "next": "done", "workflow": {"ref": {"name": "checkout"}}},
        {"name": "done", "type": "success"}]}  # fmt: skip
    _apply(_workflow(namespace, "collect", looping))

    def refused() -> dict | None:  # Stalled, not the Reconciling mark the new generation gets first
        workflow = _get(namespace, "workflow", "collect")
        return condition(workflow, "Ready") if condition(workflow, "Stalled").get("status") == "True" else None

    stalled = eventually(refused, "collect refused")
    assert stalled["reason"] == "WorkflowCycle"
    assert (
        'node "back": workflow.ref: sub-workflows run in a cycle: collect -> checkout -> collect' in stalled["message"]
    )


@pytest.mark.timeout(600)
def test_a_map_over_ten_thousand_items_keeps_its_status_small(namespace):
    _apply(_workflow(namespace, "big-map", {"startAt": "each", "nodes": [
        {"name": "each", "type": "map", "next": "done",
         "map": {"items": "input.items", "startAt": "double", "maxConcurrency": 100}},
        {"name": "double", "type": "processor", "processor": {"set": {"twice": "item * 2"}}, "next": "out"},
        {"name": "out", "type": "success", "success": {"output": "context.twice"}},
        {"name": "done", "type": "success",
         "success": {"output": "{'count': size(context.each), 'last': context.each[size(context.each) - 1]}"}},
    ]}), _run(namespace, "big-map-1", "big-map", {"items": list(range(10_000))}))  # fmt: skip
    largest, progress, deadline = 0, set(), time.monotonic() + 540
    while (current := status(namespace, "big-map-1")).get("phase") not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, f"still {current.get('phase')} at {current.get('currentNode')}"
        largest = max(largest, len(json.dumps(current)))
        if current.get("maps"):
            progress.add(current.get("currentNode") or "")
        time.sleep(1)
    assert current["phase"] == "Succeeded", current.get("message")
    assert current["output"] == {"count": 10_000, "last": 19_998}
    assert largest <= 16 * 1024, f"the status reached {largest} bytes"
    assert any(node.startswith("map each ") for node in progress), progress
