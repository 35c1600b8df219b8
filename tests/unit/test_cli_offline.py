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
    assert "ok: 19 Drift objects checked" in result.stderr


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


def test_the_cli_exits_with_its_code_after_exit_handlers_and_flushed_output():
    """The CLI skips interpreter finalization (Temporal's threads can abort it); what a normal exit does must still
    happen: exit handlers (the Kubernetes client's removal of its temporary certificate files) and buffered output."""
    script = (
        "import atexit, sys; atexit.register(lambda: print('handlers ran', file=sys.stderr)); "
        "sys.argv = ['drift', 'validate', '-f', sys.argv[1]]; from drift_cli.app import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(FIXTURES / "broken")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stdout.count("\n") >= 8
    assert result.stderr.strip().endswith("handlers ran")


PAYMENT_FLOW = """\
apiVersion: drift.dev/v1alpha1
kind: Workflow
metadata: {name: collect-payment}
spec:
  startAt: charge
  inputSchema: {type: object, required: [amount], properties: {amount: {type: number}}}
  nodes:
    - {name: charge, type: http, next: charged,
       http: {method: POST, url: "http://pay.test/charges", body: {amount: "{{ input.amount }}"}}}
    - {name: charged, type: success, success: {output: "{'chargeId': context.charge.body.id}"}}
---
apiVersion: drift.dev/v1alpha1
kind: Workflow
metadata: {name: checkout}
spec:
  startAt: pay
  nodes:
    - name: pay
      type: workflow
      workflow: {ref: {name: collect-payment}, input: {amount: "{{ input.total }}"}}
      compensate: refund
      next: ship
    - {name: ship, type: http, http: {method: POST, url: "http://ship.test/shipments"}, next: shipped}
    - {name: shipped, type: success, success: {output: "{'payment': context.pay.chargeId}"}}
    - {name: refund, type: http, http: {method: POST, url: "http://pay.test/refunds",
                                        body: {charge: "{{ compensating.result.chargeId }}"}}, next: refunded}
    - {name: refunded, type: success}
"""


def test_simulate_runs_sub_workflows_and_compensates_the_main_path(tmp_path):
    (tmp_path / "flow.yaml").write_text(PAYMENT_FLOW)
    responses = tmp_path / "responses.yaml"
    responses.write_text("http:\n  pay/charge: {status: 201, body: {id: C-7}}\n  refund: {status: 200}\n"
                         "  ship: {status: 400, body: {error: no address}}\n")  # fmt: skip
    result = drift("simulate", "checkout", "-f", str(tmp_path), "-i", "-", "-r", str(responses), "-o", "json",
                   stdin='{"total": 30}')  # fmt: skip
    assert result.returncode == 1, result.stderr
    simulated = json.loads(result.stdout)
    assert [(n["name"], n["phase"]) for n in simulated["path"]] == [("pay", "Succeeded"), ("ship", "Failed")]
    assert simulated["subWorkflows"]["pay"]["output"] == {"chargeId": "C-7"}
    assert simulated["compensations"] == [{"node": "refund", "undoes": "pay", "phase": "Succeeded"}]
    assert [(r["node"], r["url"], r["body"]) for r in simulated["requests"]] == [
        ("pay/charge", "http://pay.test/charges", {"amount": 30}),
        ("ship", "http://ship.test/shipments", None),
        ("refund", "http://pay.test/refunds", {"charge": "C-7"}),
    ]
    table = drift("simulate", "checkout", "-f", str(tmp_path), "-i", "-", "-r", str(responses), stdin='{"total": 30}')
    assert "collect-payment: Succeeded" in table.stdout
    assert "compensated pay with refund: Succeeded" in table.stdout

    wrong = drift("simulate", "checkout", "-f", str(tmp_path), "-i", "-", "-r", str(responses), "-o", "json",
                  stdin='{"total": "lots"}')  # fmt: skip
    failed = json.loads(wrong.stdout)
    assert failed["error"]["code"] == "CHILD_FAILED"
    assert "sub-workflow collect-payment ended Failed: InvalidInput: input.amount: " in failed["message"]
    assert failed["subWorkflows"]["pay"]["phase"] == "Failed"


def test_simulate_lists_emitted_events_and_sends_nothing(tmp_path):
    (tmp_path / "flow.yaml").write_text("""\
apiVersion: drift.dev/v1alpha1
kind: Workflow
metadata: {name: notify}
spec:
  startAt: announce
  nodes:
    - name: announce
      type: emit
      emit: {type: order.accepted, subject: "{{ input.id }}", sink: {kafka: {topic: orders, key: "{{ input.id }}"}},
             data: {id: "{{ input.id }}"}}
      next: done
    - {name: done, type: success, success: {output: "context.announce"}}
""")
    result = drift("simulate", "notify", "-f", str(tmp_path), "-i", "-", "-o", "json", stdin='{"id": "o-1"}')
    assert result.returncode == 0, result.stderr
    simulated = json.loads(result.stdout)
    (event,) = simulated["events"]
    assert (event["node"], event["topic"], event["key"], event["data"]) == ("announce", "orders", "o-1", {"id": "o-1"})
    assert event["attributes"]["source"] == "drift/default/notify"
    assert simulated["output"] == {"id": event["attributes"]["id"], "topic": "orders", "partition": 0, "offset": 0}


def test_simulate_takes_given_events_and_waits_without_them(tmp_path):
    (tmp_path / "flow.yaml").write_text("""\
apiVersion: drift.dev/v1alpha1
kind: Workflow
metadata: {name: pay-wait}
spec:
  startAt: await-payment
  nodes:
    - name: await-payment
      type: event
      event: {source: {kafka: {topic: payments}}, type: payment.confirmed,
              correlation: "event.data.orderId == input.id"}
      next: done
    - {name: done, type: success, success: {output: "context['await-payment'].data"}}
""")
    responses = tmp_path / "responses.yaml"
    responses.write_text("events:\n  await-payment: [{data: {orderId: o-1, paid: true}}]\n")
    args = ["simulate", "pay-wait", "-f", str(tmp_path), "-i", "-", "-o", "json"]
    result = drift(*args, "-r", str(responses), stdin='{"id": "o-1"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == {"orderId": "o-1", "paid": True}
    waiting = json.loads(drift(*args, stdin='{"id": "o-1"}').stdout)
    assert waiting["phase"] == "Waiting"
    assert waiting["waitingFor"]["message"] == 'await payment.confirmed (payments/payment.confirmed/data.orderId="o-1")'
