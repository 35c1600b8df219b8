"""The generated CRDs on the real API server: accepted, explained, and enforcing what admission can check."""

from __future__ import annotations

import uuid

import pytest
import yaml

from tests.conftest import REPO_ROOT, kubectl

FIXTURES = REPO_ROOT / "tests" / "fixtures"


@pytest.fixture
def namespace(crds_installed) -> str:
    name = f"adm-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


def _manifest(fixture: str, namespace: str, **spec_changes) -> str:
    manifest = yaml.safe_load((FIXTURES / fixture).read_text())
    manifest["metadata"]["namespace"] = namespace
    manifest["spec"].update(spec_changes)
    return yaml.safe_dump(manifest)


def test_reapplying_the_crds_changes_nothing(crds_installed):
    query = ["get", "crd", "-l", "", "-o", "jsonpath={range .items[?(@.spec.group=='drift.dev')]}{.metadata.name}="
             "{.metadata.generation}/{.metadata.resourceVersion} {end}"]  # fmt: skip
    before = kubectl(*query).stdout
    kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
    assert kubectl(*query).stdout == before
    assert before.count("drift.dev=") == len(list((REPO_ROOT / "crds").glob("*.yaml")))


def test_explain_shows_field_descriptions(crds_installed):
    result = kubectl("explain", "workflowrun.spec.resume")
    assert "Answers to instruction nodes" in result.stdout
    assert "node\t<string> -required-" in result.stdout


def test_contract_examples_are_accepted(namespace):
    kubectl("apply", "-f", "-", stdin=_manifest("refund-approval.yaml", namespace))
    kubectl("apply", "-f", "-", stdin=_manifest("fetch-order.yaml", namespace))
    listed = kubectl("get", "drift", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(listed) == ["nodedefinition.drift.dev/fetch-order", "workflow.drift.dev/refund-approval"]


def test_an_unknown_node_type_is_rejected_by_the_api_server(namespace):
    spec = yaml.safe_load((FIXTURES / "refund-approval.yaml").read_text())["spec"]
    spec["nodes"][1]["type"] = "lambda"
    result = kubectl(
        "apply", "-f", "-", stdin=_manifest("refund-approval.yaml", namespace, nodes=spec["nodes"]), check=False
    )
    assert result.returncode != 0
    assert 'spec.nodes[1].type: Unsupported value: "lambda"' in result.stderr


@pytest.mark.parametrize(
    ("fixture", "changes", "message"),
    [
        ("fetch-order.yaml", {"type": "script"}, "the script block is required for type script"),
        ("refund-approval.yaml", {"startAt": "ghost"}, "startAt must name a node in nodes"),
        ("refund-approval.yaml", {"nodes": [{"name": "a", "type": "success"}, {"name": "a", "type": "success"}]},
         'spec.nodes[1]: Duplicate value: {"name":"a"}'),
        ("refund-approval.yaml", {"startAt": "a", "onFailure": None,
                                  "nodes": [{"name": "a", "ref": {"name": "x"}, "type": "success"}]},
         "a node has either ref or an inline type"),
    ],
)  # fmt: skip
def test_admission_rules_give_specific_messages(namespace, fixture, changes, message):
    result = kubectl("apply", "-f", "-", stdin=_manifest(fixture, namespace, **changes), check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_run_spec_rules_guard_updates(namespace):
    run = {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun",
           "metadata": {"name": "r1", "namespace": namespace},
           "spec": {"workflowRef": {"name": "refund-approval"}, "cancel": True,
                    "resume": [{"node": "manager-approval", "input": {"choice": "approve"}}]}}  # fmt: skip
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(run))
    for patch, message in [
        ('{"spec":{"cancel":false}}', "a cancelled run cannot be un-cancelled"),
        ('{"spec":{"workflowRef":{"name":"other"}}}', "workflowRef is immutable"),
        ('{"spec":{"resume":[]}}', "resume entries can only be appended"),
    ]:
        result = kubectl("patch", "wfr", "r1", "-n", namespace, "--type=merge", "-p", patch, check=False)
        assert result.returncode != 0
        assert message in result.stderr
