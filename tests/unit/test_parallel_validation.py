"""Validation of parallel, map, sub-workflow and compensation nodes: scopes, and messages naming node and field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drift.models.workflow import WorkflowSpec
from drift.validation import DefinitionInvalid, validate_workflow


def _spec(*nodes: dict, start: str = "checks") -> dict:
    return {"startAt": start, "nodes": list(nodes)}


def _ok(name: str, **extra) -> dict:
    return {"name": name, "type": "success", **extra}


def _script(name: str, next_: str, **extra) -> dict:
    return {"name": name, "type": "script", "script": {"expression": "1"}, "next": next_, **extra}


PARALLEL = {
    "name": "checks",
    "type": "parallel",
    "parallel": {"branches": [{"name": "credit", "startAt": "credit"}, {"name": "fraud", "startAt": "fraud"}]},
    "next": "done",
}
FORK = [PARALLEL, _script("credit", "credit-ok"), _ok("credit-ok"), _script("fraud", "fraud-ok"), _ok("fraud-ok"),
        _ok("done")]  # fmt: skip


def _problems(spec: dict, children=()) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionInvalid) as info:
        validate_workflow(WorkflowSpec.model_validate(spec), {}, children)
    return [(p.reason, p.message) for p in info.value.problems]


def test_a_fork_with_map_sub_workflow_and_compensation_is_valid():
    nodes = [
        {**PARALLEL, "next": "notify"},
        *FORK[1:5],
        {"name": "notify", "type": "map", "map": {"items": "input.customers", "startAt": "mail"}, "next": "pay"},
        _script("mail", "mailed"),
        _ok("mailed"),
        {
            "name": "pay",
            "type": "workflow",
            "workflow": {"ref": {"name": "collect"}, "input": {"id": "{{ input.id }}"}},
            "next": "done",
            "compensate": "refund",
        },
        _script("refund", "refunded"),
        _ok("refunded"),
        _ok("done"),
    ]
    validate_workflow(WorkflowSpec.model_validate(_spec(*nodes)), {}, ["pay"])


def test_an_edge_leaving_its_branch_is_refused_naming_both_scopes():
    nodes = [PARALLEL, _script("credit", "done"), _ok("credit-ok"), _script("fraud", "fraud-ok"), _ok("fraud-ok"),
             _ok("done")]  # fmt: skip
    problems = _problems(_spec(*nodes))
    assert ("ScopeOverlap", 'node "done": reached from the main path and from the scope of node "checks" '
            'parallel.branches[0].startAt "credit"') in problems  # fmt: skip


def test_unknown_branch_start_duplicate_branch_names_and_one_branch():
    fork = {**PARALLEL, "parallel": {"branches": [{"name": "a", "startAt": "credit"}, {"name": "a", "startAt": "x"}]}}
    problems = _problems(_spec(fork, *FORK[1:]))
    assert ("UnknownNodeTarget", 'node "checks": parallel.branches[1].startAt: no node named "x"') in problems
    assert ("DuplicateBranchName", 'node "checks": parallel.branches: branch name "a" used more than once') in problems
    with pytest.raises(ValidationError, match="at least 2 items"):
        WorkflowSpec.model_validate(_spec({**PARALLEL, "parallel": {"branches": [{"name": "a", "startAt": "credit"}]}},
                                          *FORK[1:]))  # fmt: skip


def test_a_branch_that_can_never_end_is_refused():
    loop = {"name": "credit", "type": "script", "script": {"expression": "1"}, "next": "credit"}
    problems = _problems(_spec(PARALLEL, loop, _script("fraud", "fraud-ok"), _ok("fraud-ok"), _ok("done")))
    assert ("NoPathToEnd", 'node "credit": no path from it reaches a success or failure node') in problems


def test_a_map_needs_items_that_compile():
    with pytest.raises(ValidationError, match="items"):
        WorkflowSpec.model_validate(_spec({"name": "m", "type": "map", "map": {"startAt": "a"}, "next": "d"},
                                          _ok("a"), _ok("d"), start="m"))  # fmt: skip
    bad = {"name": "m", "type": "map", "map": {"items": "input.(", "startAt": "a"}, "next": "d"}
    problems = _problems(_spec(bad, _ok("a"), _ok("d"), start="m"))
    assert problems[0][0] == "InvalidExpression"
    assert problems[0][1].startswith('node "m": map.items: ')


def test_a_scope_that_starts_itself_is_refused():
    branches = [{"name": "x", "startAt": "credit"}, {"name": "y", "startAt": "fraud"}]
    inner = {"name": "again", "type": "parallel", "next": "credit-ok", "parallel": {"branches": branches}}
    nodes = [PARALLEL, _script("credit", "again"), inner, _ok("credit-ok"), _script("fraud", "fraud-ok"),
             _ok("fraud-ok"), _ok("done")]  # fmt: skip
    reasons = {reason for reason, _ in _problems(_spec(*nodes))}
    assert "ScopeCycle" in reasons


def test_a_missing_sub_workflow_and_a_compensate_on_an_end_node():
    pay = {"name": "pay", "type": "workflow", "workflow": {"ref": {"name": "collect"}}, "next": "done"}
    problems = _problems(_spec(pay, _ok("done", compensate="undo"), _ok("undo"), start="pay"))
    assert ("UnknownWorkflowRef", 'node "pay": workflow.ref: Workflow "collect" not found') in problems
    assert ("InvalidCompensate", 'node "done": compensate: a success node does nothing to undo') in problems


def test_scope_blocks_belong_to_their_type():
    with pytest.raises(ValidationError, match="type map needs a map block"):
        WorkflowSpec.model_validate(_spec({"name": "m", "type": "map", "next": "d"}, _ok("d"), start="m"))
    with pytest.raises(ValidationError, match="parallel block given but type is script"):
        WorkflowSpec.model_validate(_spec({**_script("m", "d"), "parallel": PARALLEL["parallel"]}, _ok("d"), start="m"))
