"""Fuzzing through the real API server and operator: generated manifests and resume answers.

Whatever a person applies is either refused by the API server with a message naming the field, or accepted
and then given a condition with a reason by the operator: never a crash, never an object left without a
verdict. Resume answers sent to a waiting run are each handled (delivered or refused with a reason).
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drift.models.nodes import NODE_TYPES
from tests.conftest import kubectl
from tests.e2e.conftest import eventually
from tests.e2e.test_workflow_runs import apply, status

pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")


def rarely(valid: st.SearchStrategy, junk: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly `valid`, one draw in ten `junk`: whole manifests then pass admission often enough."""
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda keep: valid if keep else junk)


NAMES = rarely(st.sampled_from(["a", "b", "c", "done"]), st.sampled_from(["Bad_Name", "", "x" * 70]))
EXPRESSIONS = rarely(
    st.sampled_from(["input.x > 1", "context.a", "size(input.items)", "{'k': input.x}", "error.code", "input.items"]),
    st.one_of(st.sampled_from(["1 +", "", "context.", "undefined_fn(1)"]), st.text(max_size=9)),
)
TEMPLATES = rarely(st.sampled_from(["http://x/{{ input.id }}", "plain", "{{ context.a }}"]),
                   st.one_of(st.sampled_from(["{{ input.id", "{{ 1 + }}", ""]), st.text(max_size=9)))  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
obj = st.fixed_dictionaries
BRANCH = obj({"name": NAMES, "startAt": NAMES})
SINKS = rarely(st.sampled_from([{"kafka": {"topic": "t"}}, {"http": {"url": "http://x"}}]), st.just({}))
BLOCKS = {
    "script": obj({"expression": EXPRESSIONS}),
    "success": obj({}, optional={"output": EXPRESSIONS, "message": TEMPLATES}),
    "failure": obj({"code": rarely(st.just("X"), st.just("")), "message": TEMPLATES}),
    "wait": rarely(obj({"seconds": st.integers(0, 3)}), obj({}, optional={"seconds": st.integers(-2, 3),
                                                                          "until": EXPRESSIONS})),
    "http": obj({"url": TEMPLATES}, optional={"body": JSON, "method": rarely(st.just("PUT"), st.just("BREW"))}),
    "emit": obj({"type": rarely(st.just("a.b"), st.just("")), "data": JSON, "sink": SINKS}),
    "instruction": obj({"message": TEMPLATES}, optional={"options": st.lists(st.text(max_size=4), max_size=3)}),
    "processor": obj({"set": st.dictionaries(NAMES, EXPRESSIONS, min_size=1, max_size=2)}),
    "map": obj({"items": EXPRESSIONS, "startAt": NAMES}, optional={"maxConcurrency": rarely(st.just(3), st.just(0))}),
    "parallel": obj({"branches": st.lists(BRANCH, min_size=2, max_size=3)}),
    "workflow": obj({"ref": obj({"name": st.sampled_from(["fuzz-0", "nope"])})}),
}  # fmt: skip


@st.composite
def nodes(draw: st.DrawFn) -> dict:
    node_type = draw(rarely(st.sampled_from(NODE_TYPES), st.just("lambda")))
    node = {"name": draw(NAMES), "type": node_type}
    block = draw(rarely(st.just(node_type), st.sampled_from(sorted(BLOCKS))))  # another type's block: refused
    if block in BLOCKS:
        node[block] = draw(BLOCKS[block])
    for edge in ("next", "onError", "compensate"):
        if (edge == "next" and node_type not in ("success", "failure")) or draw(st.integers(0, 9)) == 0:
            node[edge] = draw(NAMES)
    if node_type == "branch" or draw(st.integers(0, 19)) == 0:
        node["choices"] = draw(st.lists(obj({"when": EXPRESSIONS, "next": NAMES}), max_size=2))
        node["default"] = draw(NAMES)
    return node


WORKFLOWS = st.fixed_dictionaries(
    {"startAt": NAMES, "nodes": st.lists(nodes(), min_size=1, max_size=4)},
    optional={"onFailure": NAMES, "inputSchema": st.sampled_from([{"type": "object"}, {"type": "nonsense"}, {}])},
)
READY = {"startAt": "a", "nodes": [{"name": "a", "type": "success"}]}
STALLED = {"startAt": "a", "nodes": [
    {"name": "a", "type": "workflow", "workflow": {"ref": {"name": "nope"}}, "next": "done"},
    {"name": "done", "type": "success"},
]}  # fmt: skip
"""Admitted whatever the draws: the operator's verdicts are exercised in every run (one Ready, one Stalled)."""


def test_generated_workflows_are_refused_with_a_field_or_get_a_condition_with_a_reason(namespace):
    accepted: list[str] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(spec=WORKFLOWS)
    @example(spec=READY)
    @example(spec=STALLED)
    def applied(spec: dict) -> None:
        name = f"fuzz-{len(accepted)}-{uuid.uuid4().hex[:6]}"
        manifest = {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow",
                    "metadata": {"name": name, "namespace": namespace}, "spec": spec}  # fmt: skip
        result = kubectl("create", "-f", "-", stdin=yaml.safe_dump(manifest), check=False)
        if result.returncode == 0:
            accepted.append(name)
        else:  # the API server's own answer: which field, and why
            assert re.search(r"is invalid: (\n\* )?spec[\w.\[\]]*: \w", result.stderr), result.stderr

    applied()
    assert len(accepted) >= 2, "the two examples pass admission, so the operator is exercised too"

    def verdicts() -> dict[str, dict] | None:
        listed = json.loads(kubectl("get", "workflows", "-n", namespace, "-o", "json").stdout)["items"]
        found = {item["metadata"]["name"]: item for item in listed}
        done = all(_verdict(found.get(name, {})) for name in accepted)
        return found if done else None

    found = eventually(verdicts, "a verdict on every accepted Workflow", timeout=180)
    for name in accepted:
        ready, stalled = _verdict(found[name])
        assert ready or (stalled["reason"] and stalled["message"]), found[name]["status"]


def _verdict(workflow: dict) -> tuple[bool, dict] | None:
    """(Ready, the Stalled condition) once the operator has judged the Workflow's current generation."""
    state = workflow.get("status") or {}
    if state.get("observedGeneration") != workflow.get("metadata", {}).get("generation"):
        return None
    conditions = {c["type"]: c for c in state.get("conditions") or []}
    ready = conditions.get("Ready", {}).get("status") == "True"
    stalled = conditions.get("Stalled", {})
    if not ready and stalled.get("status") != "True":
        return None
    return ready, stalled


ASK = {
    "apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "ask"},
    "spec": {"startAt": "ask", "nodes": [
        {"name": "ask", "type": "instruction", "next": "done",
         "instruction": {"message": "ok?", "options": ["approve", "reject"],
                         "inputSchema": {"type": "object", "required": ["note"],
                                         "properties": {"note": {"type": "string", "maxLength": 5}}}}},
        {"name": "done", "type": "success", "success": {"output": "context.ask"}},
    ]},
}  # fmt: skip
ANSWERS = st.fixed_dictionaries(
    {"node": st.sampled_from(["ask", "done", "nope"])},
    optional={"input": st.dictionaries(st.sampled_from(["choice", "note", "x"]),
                                       st.one_of(st.sampled_from(["approve", "reject", "hi", "too long"]), JSON),
                                       max_size=3)},
)  # fmt: skip


def test_generated_resume_answers_are_each_delivered_or_refused(namespace):
    apply({**ASK, "metadata": {"name": "ask", "namespace": namespace}})
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflow/ask")
    run = {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun",
           "metadata": {"name": "asked", "namespace": namespace}, "spec": {"workflowRef": {"name": "ask"}}}  # fmt: skip
    apply(run)
    kubectl("wait", "wfr/asked", "-n", namespace, "--for=jsonpath={.status.phase}=Waiting", "--timeout=90s")
    sent: list[dict] = []

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(answer=ANSWERS)
    def answered(answer: dict) -> None:
        patch = {"spec": {"resume": [*sent, answer]}}
        result = kubectl("patch", "wfr", "asked", "-n", namespace, "--type=merge", "-p", json.dumps(patch), check=False)
        if result.returncode == 0:
            sent.append(answer)
        else:
            assert "spec.resume" in result.stderr, result.stderr

    answered()
    assert sent
    valid = [index for index, answer in enumerate(sent) if _valid(answer)]

    def handled() -> dict | None:
        state = status(namespace, "asked")
        finished = bool(valid) and state.get("phase") == "Succeeded"
        return state if finished or state.get("resumesDelivered") == len(sent) else None

    state = eventually(handled, f"the {len(sent)} answers handled", timeout=120)
    events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json",
                                "--field-selector", "involvedObject.name=asked").stdout)["items"]  # fmt: skip
    refused = {int(e["message"][len("resume[") : e["message"].index("]")]) for e in events
               if e["reason"] == "ResumeRefused"}  # fmt: skip
    before = range(valid[0] if valid else len(sent))
    assert set(before) <= refused, "every answer before the first valid one is refused with a reason"
    if valid:
        assert state["phase"] == "Succeeded", state
        assert state["output"] == sent[valid[0]]["input"]
        assert valid[0] not in refused
    else:
        assert state["phase"] == "Waiting", state


def _valid(answer: dict) -> bool:
    given = answer.get("input") or {}
    note = given.get("note")
    return (answer["node"] == "ask" and given.get("choice") in ("approve", "reject")
            and isinstance(note, str) and len(note) <= 5)  # fmt: skip
