"""`kubectl drift` commands that need no cluster (validate, graph -f, simulate -f), run as a person runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "cli"
SAMPLES = REPO_ROOT / "config" / "samples"


def drift(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a subprocess (what the `kubectl-drift` and `drift` scripts run)."""
    return subprocess.run(
        [sys.executable, "-m", "drift_cli", *args], input=stdin, capture_output=True, text=True, check=False, env=env
    )


def test_validate_accepts_good_manifests_with_refs_across_files():
    result = drift("validate", "-f", str(FIXTURES / "good"), "-f", str(SAMPLES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "ok: 18 Drift objects checked" in result.stderr


def test_validate_reports_one_precise_line_per_problem():
    result = drift("validate", "-f", str(FIXTURES / "broken"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    folder = FIXTURES / "broken"
    expected = [
        f"{folder}/not-yaml.yaml:4: not valid YAML: expected ',' or '}}', but got ':'",
        f"{folder}/definitions.yaml:1: NodeDefinition/bad-expression: script.expression: syntax error at column 15",
        f"{folder}/definitions.yaml:8: NodeDefinition/no-block: spec: type http needs a http block",
        f'{folder}/definitions.yaml:14: Workflow/tangled: node "uses-bad": ref: NodeDefinition "bad-expression" is '
        "invalid",
        f'{folder}/definitions.yaml:14: Workflow/tangled: node "first": ref: NodeDefinition "missing-definition" not '
        "found",
        f'{folder}/definitions.yaml:14: Workflow/tangled: node "second": next: no node named "nowhere"',
        f'{folder}/definitions.yaml:14: Workflow/tangled: node "orphan": not reachable from startAt "first"',
        f"{folder}/runs.yaml:10: WorkflowRun/typed-1: input.orderId: 42 is not of type 'string'",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), f"no line starting {start!r} in:\n{result.stdout}"
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("problems in 3 files")


def test_validate_json_output_carries_the_operator_reasons():
    result = drift("validate", "-f", str(FIXTURES / "broken" / "definitions.yaml"), "-o", "json")
    assert result.returncode == 1
    reasons = {(f["kind"], f["name"], f["reason"]) for f in json.loads(result.stdout)}
    assert ("Workflow", "tangled", "UnknownNodeTarget") in reasons
    assert ("Workflow", "tangled", "UnreachableNode") in reasons
    assert ("NodeDefinition", "bad-expression", "InvalidExpression") in reasons


def test_validate_of_a_missing_path_is_one_line():
    result = drift("validate", "-f", "no/such/folder")
    assert (result.returncode, result.stderr) == (2, "error: no/such/folder: no such file or folder\n")


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "ascii"])
def test_graph_from_files(fmt):
    result = drift("graph", "refund-approval", "-f", str(SAMPLES), "--format", fmt)
    assert result.returncode == 0, result.stderr
    for name in ("fetch-order", "check-amount", "manager-approval", "notify-failure"):
        assert name in result.stdout
    first = {"mermaid": "flowchart TD", "dot": 'digraph "refund-approval" {', "ascii": "refund-approval: start at"}
    assert result.stdout.startswith(first[fmt])


def test_simulate_follows_the_branch_the_responses_lead_to(tmp_path):
    responses = FIXTURES / "responses" / "refund-approval-large.yaml"
    result = drift("simulate", "refund-approval", "-f", str(SAMPLES), "-i", "-", "-r", str(responses), "-o", "json",
                   stdin='{"orderId": "A-1002"}')  # fmt: skip
    assert result.returncode == 0, result.stderr
    simulated = json.loads(result.stdout)
    path = [node["name"] for node in simulated["path"]]
    assert path == ["fetch-order", "check-amount", "manager-approval", "decide", "auto-refund", "done"]
    assert simulated["output"] == {"refunded": 120, "refundId": "R-A-1002"}
    assert simulated["requests"][1] == {"node": "auto-refund", "method": "POST", "url": "http://127.0.0.1:18480/api/refunds",
                                        "body": {"orderId": "A-1002", "amount": 120}, "status": 201}  # fmt: skip
    rejected = tmp_path / "rejected.yaml"
    rejected.write_text(responses.read_text().replace("choice: approve", "choice: reject"))
    result = drift("simulate", "refund-approval", "-f", str(SAMPLES), "-i", "-", "-r", str(rejected),
                   stdin='{"orderId": "A-1002"}')  # fmt: skip
    assert result.returncode == 1
    assert "decide (branch) ok" in result.stdout
    assert "error: REJECTED at node rejected: Manager rejected" in result.stdout


def test_simulate_retries_and_goes_to_on_error(tmp_path):
    responses = tmp_path / "responses.yaml"
    responses.write_text("http:\n  sync: [{status: 503}, {error: NETWORK_ERROR}, {status: 502}]\n")
    result = drift("simulate", "inventory-sync", "-f", str(SAMPLES), "-i", "-", "-r", str(responses), "-o", "json",
                   stdin="sku: sku-1")  # fmt: skip
    assert result.returncode == 1, result.stderr
    simulated = json.loads(result.stdout)
    assert [(n["name"], n["phase"], n["attempts"]) for n in simulated["path"]] == [
        ("sync", "Failed", 3),
        ("give-up", "Succeeded", 1),
    ]
    assert simulated["error"] == {
        "node": "sync",
        "path": None,
        "code": "SYNC_FAILED",
        "message": "HTTP_502: GET /api/inventory/sync answered 502",
    }
    assert simulated["simulatedSeconds"] == 1.5  # 0.5 s, then 1 s between the attempts: no real waiting


def test_simulate_stops_where_a_run_would_wait():
    responses = FIXTURES / "responses" / "refund-approval-large.yaml"
    text = responses.read_text().split("resume:")[0]
    path = FIXTURES.parent / "cli-waiting.tmp.yaml"
    try:
        path.write_text(text)
        result = drift("simulate", "refund-approval", "-f", str(SAMPLES), "-i", "-", "-r", str(path),
                       stdin='{"orderId": "A-1002"}')  # fmt: skip
    finally:
        path.unlink()
    assert result.returncode == 1
    assert "refund-approval: Waiting (Waiting for input on manager-approval)" in result.stdout
    assert "manager-approval waits for input: Refund 120 for order A-1002? (options: approve, reject)" in result.stdout


REFUND = ["simulate", "refund-approval", "-f", str(SAMPLES), "-i", "-"]
MISTAKES = [
    (REFUND, "{orderId: [", "error: stdin:1: input is not valid JSON or YAML"),
    (REFUND, "[1, 2]", "error: stdin: input must be a JSON object (a mapping), not list"),
    (REFUND, "{orderId: 7}", "error: input does not fit workflow refund-approval's inputSchema: input.orderId: 7 is"),
    (
        ["simulate", "nope", "-f", str(SAMPLES)],
        None,
        "error: no Workflow 'nope' in the files given (namespace default)",
    ),
    (REFUND, '{"orderId": "A-1"}', "error: responses: no http answer for node fetch-order (GET http://127.0.0.1:18480"),
]


@pytest.mark.parametrize(("args", "stdin", "message"), MISTAKES)
def test_mistakes_are_one_line(args, stdin, message):
    result = drift(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1
