"""Graph rules, expression compilation and input checks, with the messages users see."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.models.nodes import NodeDefinitionSpec
from drift.models.workflow import WorkflowSpec
from drift.validation import DefinitionInvalid, validate_input, validate_node_definition, validate_workflow

FIXTURES = Path(__file__).parents[1] / "fixtures"
HTTP = NodeDefinitionSpec.model_validate(yaml.safe_load((FIXTURES / "fetch-order.yaml").read_text())["spec"])
REFS = {"fetch-order": HTTP, "auto-refund": HTTP}


def _refund() -> dict:
    return yaml.safe_load((FIXTURES / "refund-approval.yaml").read_text())["spec"]


def _problems(spec: dict, refs=REFS) -> DefinitionInvalid:
    with pytest.raises(DefinitionInvalid) as info:
        validate_workflow(WorkflowSpec.model_validate(spec), refs)
    return info.value


def test_the_contract_example_is_valid():
    validate_workflow(WorkflowSpec.model_validate(_refund()), REFS)


def _edit(change) -> dict:
    spec = _refund()
    change(spec)
    return spec


def _node(spec: dict, name: str) -> dict:
    return next(n for n in spec["nodes"] if n["name"] == name)


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        (
            lambda s: _node(s, "check-amount")["choices"][0].update(when="context.order.amount >> 100"),
            "InvalidExpression",
            'node "check-amount": choices[0].when: syntax error at column 23',
        ),
        (
            lambda s: _node(s, "manager-approval").update(next="nowhere"),
            "UnknownNodeTarget",
            'node "manager-approval": next: no node named "nowhere"',
        ),
        (lambda s: s.update(startAt="ghost"), "UnknownNodeTarget", 'startAt: no node named "ghost"'),
        (lambda s: s.update(onFailure="ghost"), "UnknownNodeTarget", 'onFailure: no node named "ghost"'),
        (
            lambda s: s["nodes"].append({"name": "orphan", "type": "success"}),
            "UnreachableNode",
            'node "orphan": not reachable from startAt "fetch-order"',
        ),
        (
            lambda s: s["nodes"].append({"name": "fetch-order", "type": "success"}),
            "DuplicateNodeName",
            'node "fetch-order": name used more than once',
        ),
        (
            lambda s: _node(s, "manager-approval").pop("next"),
            "MissingNext",
            'node "manager-approval": next: required for a instruction node',
        ),
        (
            lambda s: _node(s, "done")["success"].update(output="contxt.order"),
            "InvalidExpression",
            "node \"done\": success.output: unknown variable 'contxt'",
        ),
        (
            lambda s: _node(s, "manager-approval")["instruction"].update(message="Refund {{ context. }}"),
            "InvalidExpression",
            'node "manager-approval": instruction.message: syntax error',
        ),
        (lambda s: s.update(inputSchema={"type": "objekt"}), "InvalidSchema", "inputSchema.type: not a valid JSON"),
    ],
)
def test_graph_problems_name_the_node_and_field(change, reason, message):
    error = _problems(_edit(change))
    assert error.reason == reason
    assert message in str(error)


def test_an_unresolved_ref_is_reported():
    error = _problems(_refund(), refs={"fetch-order": HTTP})
    assert error.reason == "UnknownNodeRef"
    assert 'node "auto-refund": ref: NodeDefinition "issue-refund" not found' in str(error)


def test_a_loop_without_exit_has_no_path_to_end_even_with_on_failure():
    spec = {
        "startAt": "a",
        "onFailure": "fail",
        "nodes": [
            {"name": "a", "type": "processor", "processor": {"set": {"n": "1"}}, "next": "b"},
            {"name": "b", "type": "processor", "processor": {"set": {"n": "2"}}, "next": "a"},
            {"name": "fail", "type": "failure", "failure": {"code": "X"}},
        ],
    }
    error = _problems(spec, refs={})
    assert error.reason == "NoPathToEnd"
    assert 'node "a": no path from it reaches a success or failure node' in str(error)


def test_a_loop_with_an_exit_is_fine():
    spec = {
        "startAt": "count",
        "nodes": [
            {"name": "count", "type": "processor", "processor": {"set": {"n": "has(context.n) ? context.n + 1 : 1"}},
             "next": "more"},
            {"name": "more", "type": "branch", "choices": [{"when": "context.n < 10", "next": "count"}],
             "default": "done"},
            {"name": "done", "type": "success"},
        ],
    }  # fmt: skip
    validate_workflow(WorkflowSpec.model_validate(spec), {})


def test_node_definition_expressions_are_compiled():
    spec = HTTP.model_copy(update={"http": HTTP.http.model_copy(update={"url": "http://x/{{ input.id"})})
    with pytest.raises(DefinitionInvalid, match=r"http\.url: unclosed template"):
        validate_node_definition(spec)
    validate_node_definition(HTTP)


EMIT = {"type": "emit", "emit": {"type": "payment.requested", "sink": {"kafka": {"topic": "payments"}},
                                  "data": {"orderId": "{{ input.orderId }}"}}}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sink": {}}, "give exactly one of kafka and http"),
        ({"sink": {"kafka": {"topic": "p"}, "http": {"url": "http://x"}}}, "give exactly one of kafka and http"),
        ({"sink": {"kafka": {"topic": "no spaces"}}}, "String should match pattern"),
        ({"type": ""}, "String should have at least 1 character"),
    ],
)
def test_an_emit_block_names_its_problem(change, message):
    with pytest.raises(ValueError, match=message):
        NodeDefinitionSpec.model_validate({**EMIT, "emit": {**EMIT["emit"], **change}})


def test_emit_templates_are_compiled():
    validate_node_definition(NodeDefinitionSpec.model_validate(EMIT))
    broken = {**EMIT, "emit": {**EMIT["emit"], "subject": "{{ input.id", "sink": {"http": {"url": "http://x/{{ a"}}}}
    with pytest.raises(DefinitionInvalid, match=r"emit\.sink\.http\.url: unclosed template.*emit\.subject: unclosed"):
        validate_node_definition(NodeDefinitionSpec.model_validate(broken))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "input.orderId: required"),
        ({"orderId": 7}, "input.orderId: 7 is not of type 'string'"),
        ({"orderId": "A", "lines": [{"qty": "x"}]}, "input.lines[0].qty: 'x' is not of type 'integer'"),
    ],
)
def test_run_input_errors_name_the_field(value, message):
    schema = {
        "type": "object",
        "required": ["orderId"],
        "properties": {
            "orderId": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer"}}}},
        },
    }
    with pytest.raises(DefinitionInvalid) as info:
        validate_input(schema, value)
    assert info.value.reason == "InvalidInput"
    assert str(info.value) == message


NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f"])
NODE = st.one_of(
    st.builds(lambda n, nx: {"name": n, "type": "processor", "processor": {"set": {"k": "1"}}, "next": nx},
              NAMES, NAMES),
    st.builds(lambda n: {"name": n, "type": "success"}, NAMES),
    st.builds(lambda n: {"name": n, "type": "failure", "failure": {"code": "E"}}, NAMES),
    st.builds(lambda n, a, b, w: {"name": n, "type": "branch", "choices": [{"when": w, "next": a}], "default": b},
              NAMES, NAMES, NAMES, st.sampled_from(["true", "context.k > 1", "context.k >", "ctx"])),
    st.builds(lambda n, ref: {"name": n, "ref": {"name": ref}, "next": "a"}, NAMES, st.sampled_from(["x", "y"])),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(NODE, min_size=1, max_size=8), NAMES, st.one_of(st.none(), NAMES))
def test_random_graphs_never_crash_the_validator(nodes, start, on_failure):
    spec = WorkflowSpec.model_validate({"startAt": start, "onFailure": on_failure, "nodes": nodes})
    problems = []
    try:
        validate_workflow(spec, {"a": HTTP})
    except DefinitionInvalid as error:
        problems = error.problems
    assert all(problem.reason and problem.message for problem in problems)
