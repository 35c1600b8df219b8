"""WorkflowTriggers through kubectl and the real backends: the operator's check, Kafka records and CloudEvents
over HTTP starting runs once each, filters and templates, the receiver's refusals."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import kubectl
from tests.e2e.conftest import condition, eventually

pytestmark = pytest.mark.usefixtures("drift_operator")


def trigger(namespace: str, name: str, **spec) -> dict:
    spec = {
        "workflowRef": {"name": "order-flow"},
        "source": {"kafka": {"topic": "orders", "consumerGroup": name}},
        **spec,
    }
    metadata = {"name": name, "namespace": namespace}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowTrigger", "metadata": metadata, "spec": spec}


def apply(*objects: dict) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))


def get(namespace: str, kind: str, name: str) -> dict:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def test_a_trigger_with_bad_expressions_is_stalled_and_a_good_one_ready(namespace):
    apply(
        trigger(namespace, "good", filter="event.type == 'order.created'", input={"id": "{{ event.data.id }}"}),
        trigger(namespace, "bad", filter="event.type ==", input={"id": "{{ input.id }}"}),
    )
    kubectl("wait", "wft/good", "-n", namespace, "--for=condition=Ready", "--timeout=60s")
    kubectl("wait", "wft/bad", "-n", namespace, "--for=condition=Stalled", "--timeout=60s")
    stalled = condition(get(namespace, "wft", "bad"), "Stalled")
    assert stalled["reason"] == "InvalidExpression"
    assert "spec.filter: syntax error at column 14" in stalled["message"]
    assert "spec.input.id: unknown variable 'input' (use event)" in stalled["message"]
    listed = kubectl("get", "wft", "-n", namespace).stdout.splitlines()
    assert listed[0].split() == ["NAME", "WORKFLOW", "TOPIC", "RECEIVED", "STARTED", "LAST", "READY", "AGE"]

    apply(trigger(namespace, "bad", filter="event.type == 'order.created'"))
    eventually(lambda: condition(get(namespace, "wft", "bad"), "Ready").get("status") == "True", "bad fixed")


def test_admission_refuses_two_sources(namespace):
    both = trigger(namespace, "both")
    both["spec"]["source"]["cloudEvents"] = {"auth": {"tokenSecretRef": {"name": "s", "key": "token"}}}
    result = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(both), check=False)
    assert result.returncode != 0
    assert "give exactly one of kafka and cloudEvents" in result.stderr
