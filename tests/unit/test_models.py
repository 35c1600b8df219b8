"""The pydantic models accept the contract's examples and refuse malformed shapes with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from drift.models.nodes import NodeDefinitionSpec
from drift.models.run import WorkflowRunSpec
from drift.models.workflow import WorkflowSpec

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _spec(name: str) -> dict:
    return yaml.safe_load((FIXTURES / name).read_text())["spec"]


def test_contract_examples_parse_and_round_trip():
    workflow = WorkflowSpec.model_validate(_spec("refund-approval.yaml"))
    assert workflow.node("check-amount").choices[0].next == "manager-approval"
    assert WorkflowSpec.model_validate(workflow.wire()) == workflow
    node = NodeDefinitionSpec.model_validate(_spec("fetch-order.yaml"))
    assert node.http.headers_from[0].secret_key_ref.name == "orders-token"
    assert node.wire()["http"]["headersFrom"][0]["secretKeyRef"] == {"name": "orders-token", "key": "token"}


def test_processor_set_keeps_its_wire_name():
    spec = NodeDefinitionSpec.model_validate({"type": "processor", "processor": {"set": {"total": "1 + 2"}}})
    assert spec.processor.assignments == {"total": "1 + 2"}
    assert spec.wire()["processor"] == {"set": {"total": "1 + 2"}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "http"}, "type http needs a http block"),
        (
            {"type": "script", "script": {"expression": "1"}, "http": {"url": "x"}},
            "http block given but type is script",
        ),
        ({"type": "wait", "wait": {}}, "give exactly one of seconds and until"),
        ({"type": "wait", "wait": {"seconds": 1, "until": "x"}}, "give exactly one of seconds and until"),
        ({"type": "lambda"}, "Input should be 'http', 'emit', 'event', 'script'"),
        ({"type": "success", "sucess": {}}, "Extra inputs are not permitted"),
        ({"type": "processor", "processor": {"set": {"bad key": "1"}}}, "String should match pattern"),
    ],
)
def test_node_definition_shapes_are_checked(spec, message):
    with pytest.raises(ValidationError, match=message):
        NodeDefinitionSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"name": "a", "ref": {"name": "x"}, "type": "success"}, "exactly one of ref and type"),
        ({"name": "a"}, "exactly one of ref and type"),
        ({"name": "a", "type": "branch", "choices": []}, "a branch needs at least one choice"),
        ({"name": "a", "type": "success", "next": "b"}, "a success node has no next"),
        ({"name": "a", "type": "script", "script": {"expression": "1"}, "default": "b"}, "for branch nodes only"),
        ({"name": "bad name", "type": "success"}, "String should match pattern"),
    ],
)
def test_workflow_node_shapes_are_checked(node, message):
    with pytest.raises(ValidationError, match=message):
        WorkflowSpec.model_validate({"startAt": "a", "nodes": [node]})


def test_run_spec_defaults():
    spec = WorkflowRunSpec.model_validate({"workflowRef": {"name": "refund-approval"}})
    assert (spec.input, spec.resume, spec.cancel) == ({}, [], False)
