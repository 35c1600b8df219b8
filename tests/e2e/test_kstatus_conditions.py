"""Every kind in every state, as the real kstatus library (what Flux's health checks use) reads it.

The expectations are the README's condition table: Current when Ready or Succeeded, InProgress while
Reconciling (syncing, Pending, Running, Waiting), Failed when Stalled (invalid definition, a failed run).
Backend outages are checked in tests/integration/test_operator_definitions.py.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from tests.conftest import kubectl
from tests.kstatus_check import binary, compute

pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")


@pytest.fixture(scope="module", autouse=True)
def kstatus_built() -> None:
    """Build the checker before any test's clock starts (the first build takes a minute)."""
    binary()


def manifests(namespace: str) -> list[dict]:
    meta = {"namespace": namespace}
    node = {
        "apiVersion": "drift.dev/v1alpha1",
        "kind": "NodeDefinition",
        "metadata": {"name": "greet", **meta},
        "spec": {"type": "script", "script": {"expression": "{'hello': input.mode}"}},
    }
    nodes = [
        {"name": "greet", "ref": {"name": "greet"}, "next": "route"},
        {
            "name": "route",
            "type": "branch",
            "default": "done",
            "choices": [
                {"when": "input.mode == 'wait'", "next": "ask"},
                {"when": "input.mode == 'sleep'", "next": "nap"},
                {"when": "input.mode == 'fail'", "next": "broken"},
            ],
        },
        {"name": "ask", "type": "instruction", "instruction": {"message": "go on?"}, "next": "done"},
        {"name": "nap", "type": "wait", "wait": {"seconds": 600}, "next": "done"},
        {"name": "broken", "type": "failure", "failure": {"code": "BROKEN", "message": "as asked"}},
        {"name": "done", "type": "success"},
    ]
    workflow = {
        "apiVersion": "drift.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "modes", **meta},
        "spec": {"startAt": "greet", "nodes": nodes},
    }
    return [node, workflow]  # fmt: skip


def run(namespace: str, name: str, mode: str, workflow: str = "modes") -> dict:
    metadata = {"name": name, "namespace": namespace}
    spec = {"workflowRef": {"name": workflow}, "input": {"mode": mode}}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun", "metadata": metadata, "spec": spec}


def apply(*objects: dict) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))


def kstatus(namespace: str, kind: str, name: str) -> tuple[str, str]:
    """(kstatus status, message) of one object."""
    result = compute(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
    return next(iter(result.values()))


def settles(namespace: str, kind: str, name: str, expected: str, timeout: float = 60) -> str:
    """Wait until kstatus says `expected` for the object; its message."""
    deadline = time.monotonic() + timeout
    while (found := kstatus(namespace, kind, name))[0] != expected:
        assert time.monotonic() < deadline, f"{kind}/{name}: kstatus {found}, expected {expected}"
        time.sleep(0.3)
    return found[1]


def get(namespace: str, kind: str, name: str) -> dict:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def synced(obj: dict) -> bool:
    """Ready=True for the object's current generation."""
    ready = next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})
    return ready.get("status") == "True" and ready.get("observedGeneration") == obj["metadata"]["generation"]


def watch_edit(edited: dict) -> list[dict]:
    """Apply `edited` (an existing object) and return every version a watch saw until it is synced again."""
    kind, meta = edited["kind"].lower(), edited["metadata"]
    argv = ["kubectl", "get", kind, meta["name"], "-n", meta["namespace"], "-w", "-o", "json"]
    watch = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert watch.stdout is not None
    lines = []
    while (line := watch.stdout.readline()) != "}\n":  # the current version, printed first: the watch is live
        assert line, "kubectl get -w ended"
        lines.append(line)
    try:
        apply(edited)
        deadline = time.monotonic() + 60
        while not synced(get(meta["namespace"], kind, meta["name"])):
            assert time.monotonic() < deadline, f"{kind}/{meta['name']} never synced its edit"
            time.sleep(0.2)
        time.sleep(1)  # the watch prints the last version too
    finally:
        watch.terminate()
        rest, _ = watch.communicate(timeout=10)
    output = "".join(lines) + "}\n" + rest
    decoder, objects, position = json.JSONDecoder(), [], 0
    while (position := _skip_space(output, position)) < len(output):
        obj, position = decoder.raw_decode(output, position)
        objects.append(obj)
    return objects


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def conditions(obj: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj.get("status", {}).get("conditions", [])}


def test_definitions_are_in_progress_while_syncing_then_current(namespace):
    node, workflow = manifests(namespace)
    apply(node, workflow)
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "nodedefinition/greet", "workflow/modes")
    assert kstatus(namespace, "nodedefinition", "greet")[0] == "Current"
    assert kstatus(namespace, "workflow", "modes")[0] == "Current"

    workflow["spec"]["timeoutSeconds"] = 3600
    node["spec"]["description"] = "edited"
    seen = watch_edit(workflow) + watch_edit(node)
    syncing = [obj for obj in seen if conditions(obj).get("Reconciling", ("", ""))[0] == "True"]
    assert {obj["kind"] for obj in syncing} == {"NodeDefinition", "Workflow"}, "Reconciling=True while syncing"
    for obj in syncing:
        assert conditions(obj)["Stalled"][0] == "False"
        status, message = next(iter(compute(json.dumps(obj)).values()))
        assert (status, message) == ("InProgress", f"Storing generation {obj['metadata']['generation']}")
    assert kstatus(namespace, "nodedefinition", "greet")[0] == "Current"
    assert kstatus(namespace, "workflow", "modes")[0] == "Current"


def test_invalid_definitions_are_failed(namespace):
    node, workflow = manifests(namespace)
    node["spec"]["script"]["expression"] = "{'hello': input.mode"
    workflow["spec"]["nodes"].append({"name": "orphan", "type": "success"})
    apply(node, workflow)
    assert "expression" in settles(namespace, "nodedefinition", "greet", "Failed")
    settles(namespace, "workflow", "modes", "Failed")
    stalled = conditions(get(namespace, "workflow", "modes"))
    assert (stalled["Reconciling"][0], stalled["Stalled"][0]) == ("False", "True")


@pytest.mark.parametrize(
    ("mode", "phase", "expected"),
    [
        ("wait", "Waiting", "InProgress"),
        ("sleep", "Running", "InProgress"),
        ("done", "Succeeded", "Current"),
        ("fail", "Failed", "Failed"),
    ],
)
def test_runs_by_phase(namespace, mode, phase, expected):
    apply(*manifests(namespace), run(namespace, mode, mode))
    kubectl("wait", f"--for=jsonpath={{.status.phase}}={phase}", "-n", namespace, "--timeout=60s", f"wfr/{mode}")
    assert kstatus(namespace, "wfr", mode)[0] == expected


def test_a_pending_run_is_in_progress(namespace):
    apply(run(namespace, "early", "done", workflow="missing"))
    kubectl("wait", "--for=jsonpath={.status.phase}=Pending", "-n", namespace, "--timeout=60s", "wfr/early")
    assert kstatus(namespace, "wfr", "early") == ("InProgress", 'Workflow "missing" not found or not Ready')


def schedule(namespace: str, name: str, time_zone: str) -> dict:
    spec = {"schedule": "@daily", "timeZone": time_zone, "workflowRef": {"name": "modes"}}
    metadata = {"name": name, "namespace": namespace}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowSchedule", "metadata": metadata, "spec": spec}


def test_schedules_are_current_when_in_place_and_failed_when_invalid(namespace):
    apply(schedule(namespace, "daily", "Europe/Berlin"), schedule(namespace, "nowhere", "Nowhere/Land"))
    settles(namespace, "wfs", "daily", "Current")
    assert settles(namespace, "wfs", "nowhere", "Failed") == 'spec.timeZone: unknown time zone "Nowhere/Land"'


def trigger(namespace: str, name: str, filter_: str) -> dict:
    source = {"kafka": {"topic": "orders", "consumerGroup": name}}
    spec = {"workflowRef": {"name": "modes"}, "source": source, "filter": filter_}
    metadata = {"name": name, "namespace": namespace}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowTrigger", "metadata": metadata, "spec": spec}


def test_triggers_are_current_when_accepted_and_failed_when_invalid(namespace):
    apply(trigger(namespace, "good", "event.type == 'a'"), trigger(namespace, "bad", "event.type =="))
    settles(namespace, "wft", "good", "Current")
    assert settles(namespace, "wft", "bad", "Failed").startswith("spec.filter: syntax error at column 14")
