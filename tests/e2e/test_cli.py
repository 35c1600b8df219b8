"""`kubectl drift` against the real stack (operator, worker, Temporal, HBase), run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, kubectl
from tests.e2e.conftest import sample_documents
from tests.e2e.test_workflow_runs import apply, definitions, ready, status, wait_for

pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")
SAMPLES = sorted((REPO_ROOT / "config" / "samples").glob("*.yaml"))
RESPONSES = REPO_ROOT / "tests" / "fixtures" / "cli" / "responses"
SAMPLE_RESPONSES = {
    "refund-a-1001-small": "refund-approval.yaml",
    "refund-a-1002": "refund-approval-large.yaml",
    "inventory-sync-sku-42": "inventory-sync.yaml",
    "remind-ada": "payment-reminder.yaml",
    "order-2001": "order-fulfilment.yaml",
}


def drift(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "drift_cli", *args], input=stdin, capture_output=True, text=True,
                            check=False, env=env, timeout=240)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_simulate_takes_the_path_of_the_real_run(sample, namespace, samples_backend):
    """Each sample run, real (answered with `resume` where it waits) and simulated on the same responses."""
    documents = sample_documents(sample, namespace, samples_backend.url)
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    for run in (doc for doc in documents if doc["kind"] == "WorkflowRun"):
        name = run["metadata"]["name"]
        if run["metadata"]["annotations"]["drift.dev/expected-phase"] == "Waiting":
            wait_for(namespace, name, "jsonpath={.status.phase}=Waiting", 90)
            answered = drift("resume", name, "-n", namespace, "--choice", "approve")
            assert answered.returncode == 0, answered.stderr
            assert f"workflowrun/{name} resume[0] accepted" in answered.stdout
        wait_for(namespace, name, "jsonpath={.status.phase}=Succeeded", 90)
        real = status(namespace, name)
        simulated = drift("simulate", run["spec"]["workflowRef"]["name"], "-n", namespace, "-i", "-",
                          "-r", str(RESPONSES / SAMPLE_RESPONSES[name]), "-o", "json",
                          stdin=json.dumps(run["spec"]["input"]))  # fmt: skip
        assert simulated.returncode == 0, simulated.stderr
        result = json.loads(simulated.stdout)
        path = [(n["name"], n["phase"], n["attempts"], n["message"]) for n in result["path"]]
        assert path == [(n["name"], n["phase"], n["attempts"], n.get("message")) for n in real["nodes"]]
        assert (result["phase"], result["output"], result["message"]) == ("Succeeded", real["output"], real["message"])


def _workflow_status(namespace: str) -> dict:
    return json.loads(kubectl("get", "workflow", "refund-approval", "-n", namespace, "-o", "json").stdout)["status"]


def _generation(namespace: str) -> int:
    found = json.loads(kubectl("get", "workflow", "refund-approval", "-n", namespace, "-o", "json").stdout)
    return found["metadata"]["generation"]


def test_start_wait_runs_and_describe(namespace, samples_backend):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    done = drift("start", "refund-approval", "-n", namespace, "--name", "small", "--wait", "-i", "-",
                 stdin='{"orderId": "A-1-small"}')  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("small Succeeded in ")
    assert json.loads(done.stdout.split("\n", 1)[1]) == {
        "refunded": 20,
        "refund": {"refundId": "R-A-1-small", "amount": 20},
    }
    failed = drift("start", "refund-approval", "-n", namespace, "--wait", "-o", "json", "-i", "-",
                   stdin="orderId: broken-1")  # fmt: skip
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["error"]["code"] == "REFUND_FAILED"

    listed = drift("runs", "-n", namespace, "-o", "json")
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["small"]["phase"] == "Succeeded"
    assert rows["small"]["nodesCompleted"] == 4
    assert [row["phase"] for row in rows.values()].count("Failed") == 1
    table = drift("runs", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "WORKFLOW", "NODE", "PROGRESS", "AGE", "DURATION"]
    assert any(line.startswith("small ") and "Succeeded" in line and "4 nodes" in line for line in table)

    described = drift("describe", "run", "small", "-n", namespace)
    assert described.returncode == 0, described.stderr
    for text in ("Phase:", "Succeeded", "fetch-order", "check-amount", "auto-refund", '"refunded": 20', "Nodes:"):
        assert text in described.stdout


def test_resume_cancel_and_graph_of_a_waiting_run(namespace, samples_backend):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    created = drift("start", "refund-approval", "-n", namespace, "--name", "big", "-i", "-", stdin="orderId: A-2")
    assert (created.returncode, created.stdout) == (0, "workflowrun/big created\n")
    wait_for(namespace, "big", "jsonpath={.status.phase}=Waiting")

    described = drift("describe", "run", "big", "-n", namespace, "-o", "json")
    assert json.loads(described.stdout)["waitingFor"]["options"] == ["approve", "reject"]
    pinned = status(namespace, "big")["workflowVersion"]
    renamed = json.loads(
        json.dumps(definitions(namespace, samples_backend.url)[2]).replace('"auto-refund"', '"refund-now"')
    )
    apply(renamed)
    kubectl("wait", "workflow/refund-approval", "-n", namespace, "--timeout=60s",
            f"--for=jsonpath={{.status.observedGeneration}}={_generation(namespace)}")  # fmt: skip
    assert _workflow_status(namespace)["version"] != pinned
    drawn = drift("graph", "run/big", "-n", namespace, "--format", "ascii")  # the run's version, from HBase
    assert (drawn.returncode, drawn.stderr) == (0, "")
    assert "[ok]      fetch-order" in drawn.stdout
    assert "[waiting] manager-approval" in drawn.stdout
    assert "[ ]       auto-refund" in drawn.stdout
    assert "refund-now" not in drawn.stdout
    assert "refund-now" in drift("graph", "refund-approval", "-n", namespace, "--format", "ascii").stdout

    no_choice = drift("resume", "big", "-n", namespace)  # not a terminal: no prompt
    assert (no_choice.returncode, no_choice.stderr) == (
        2, "error: node manager-approval needs a choice: one of approve, reject (give --choice)\n")  # fmt: skip
    refused = drift("resume", "big", "-n", namespace, "--node", "done")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: resume[0] refused: ")
    assert '"done" is not an instruction node of this workflow' in refused.stderr
    accepted = drift("resume", "big", "-n", namespace, "--choice", "approve", "--set", "note=fine", "--set", "level=2")
    assert accepted.returncode == 0, accepted.stderr
    assert "resume[1] accepted" in accepted.stdout
    wait_for(namespace, "big", "condition=Succeeded")
    run = json.loads(kubectl("get", "wfr", "big", "-n", namespace, "-o", "json").stdout)
    assert run["spec"]["resume"][1] == {"node": "manager-approval",
                                        "input": {"choice": "approve", "note": "fine", "level": 2}}  # fmt: skip
    finished = drift("resume", "big", "-n", namespace, "--choice", "approve")
    assert (finished.returncode, finished.stderr) == (
        1, "error: cannot resume big: the run already ended (Succeeded)\n")  # fmt: skip

    drift("start", "refund-approval", "-n", namespace, "--name", "other", "-i", "-", stdin="orderId: A-3")
    wait_for(namespace, "other", "jsonpath={.status.phase}=Waiting")
    cancelled = drift("cancel", "other", "-n", namespace, "--wait", "--timeout", "60")
    assert cancelled.returncode == 0, cancelled.stderr
    assert status(namespace, "other")["phase"] == "Cancelled"


def test_runs_watch_prints_changes(namespace):
    with subprocess.Popen([sys.executable, "-m", "drift_cli", "runs", "-w", "-n", namespace],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as watcher:  # fmt: skip
        try:
            assert watcher.stdout is not None
            assert watcher.stdout.readline().strip() == "No runs."
        finally:
            watcher.terminate()
            watcher.wait(10)


def test_node_test_runs_one_definition_against_the_real_service(namespace, samples_backend):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    ok = drift("node", "test", "fetch-order", "-n", namespace, "-i", "-", stdin="orderId: A-9")
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert (result["phase"], result["attempts"], result["context"]) == (
        "Succeeded",
        1,
        {"order": {"id": "A-9", "amount": 120}},
    )
    broken = drift("node", "test", "fetch-order", "-n", namespace, "-i", "-", "-o", "table", stdin="orderId: broken-9")
    assert broken.returncode == 1
    assert broken.stdout.splitlines() == [
        "fetch-order (http): Failed after 2 attempts",
        "error: HTTP_500: GET /api/orders/broken-9 answered 500",
    ]
    assert samples_backend.calls["GET /api/orders/broken-9"] == 2


def test_describe_rebuilds_older_nodes_from_the_temporal_history(namespace):
    counter = {
        "apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "counter", "namespace": namespace},
        "spec": {"startAt": "init", "nodes": [
            {"name": "init", "type": "processor", "processor": {"set": {"count": "0"}}, "next": "step"},
            {"name": "step", "type": "processor", "processor": {"set": {"count": "context.count + 1"}},
             "next": "check"},
            {"name": "check", "type": "branch", "choices": [{"when": "context.count < 30", "next": "step"}],
             "default": "done"},
            {"name": "done", "type": "success", "success": {"output": "context.count"}},
        ]},
    }  # fmt: skip
    apply(counter)
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflow/counter")
    done = drift("start", "counter", "-n", namespace, "--name", "count", "--wait")
    assert done.returncode == 0, done.stderr
    assert len(status(namespace, "count")["nodes"]) == 50
    described = json.loads(drift("describe", "run", "count", "-n", namespace, "-o", "json").stdout)
    timeline = described["timeline"]
    assert (timeline["source"], timeline["note"]) == ("temporal", None)
    assert [n["name"] for n in timeline["nodes"]] == ["init", *(["step", "check"] * 30), "done"]
    assert timeline["nodes"][-50:] == status(namespace, "count")["nodes"]


def test_mistakes_are_one_line(namespace, stack_env, tmp_path):
    unknown = drift("describe", "run", "nope", "-n", namespace)
    assert (unknown.returncode, unknown.stderr) == (
        2,
        f"error: WorkflowRun 'nope' not found in namespace '{namespace}'\n",
    )
    wrong_namespace = drift("runs", "-n", "no-such-namespace")
    assert (wrong_namespace.returncode, wrong_namespace.stderr) == (
        2,
        "error: namespace 'no-such-namespace' does not exist\n",
    )
    cancel_unknown = drift("cancel", "nope", "-n", namespace)
    assert cancel_unknown.stderr == f"error: WorkflowRun 'nope' not found in namespace '{namespace}'\n"
    malformed = drift("start", "refund-approval", "-n", namespace, "-i", "-", stdin='{"orderId": ')
    assert malformed.returncode == 2
    assert malformed.stderr.startswith("error: stdin:1: input is not valid JSON or YAML")
    config = json.loads(Path(stack_env["KUBECONFIG"]).read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "kubeconfig"
    dead.write_text(json.dumps(config))
    no_cluster = drift("runs", env={**os.environ, "KUBECONFIG": str(dead)})
    assert no_cluster.returncode == 2
    assert no_cluster.stderr.startswith("error: cannot reach the Kubernetes API at https://127.0.0.1:1: ")
    assert len(no_cluster.stderr.splitlines()) == 1
    bad_context = drift("runs", "--context", "nope")
    assert bad_context.returncode == 2
    assert bad_context.stderr.startswith("error: no context 'nope' in the kubeconfig")


def test_kubectl_finds_the_plugin(namespace):
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    started = time.monotonic()
    result = subprocess.run(["kubectl", "drift", "runs", "-n", namespace], capture_output=True, text=True,
                            check=False, env={**os.environ, "PATH": path})  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, "No runs.\n", "")
    assert time.monotonic() - started < 120
