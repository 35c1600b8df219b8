"""WorkflowTriggers' pure parts: the spec's shape, compiling and applying filter and templates, the status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from drift.expressions import ExpressionError
from drift.models.trigger import WorkflowTriggerSpec
from drift.trigger_events import compile_trigger, decide, trigger_run_name, trigger_workflow_id
from drift.validation import DefinitionInvalid
from drift_operator.trigger_handlers import check
from drift_operator.trigger_status import trigger_status

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
KAFKA = {"kafka": {"topic": "orders", "consumerGroup": "drift-order-created"}}
ORDER = {"id": "e-1", "type": "order.created", "source": "shop", "data": {"id": "o-7", "total": 12.5}}


def spec(**fields) -> dict:
    return {"workflowRef": {"name": "order-flow"}, "source": KAFKA, **fields}


def compiled(**fields):
    return compile_trigger(WorkflowTriggerSpec.model_validate(spec(**fields)))


def test_the_designed_example_filters_and_maps_an_order():
    trigger = compiled(
        filter="event.type == 'order.created' && event.data.total > 0",
        input={
            "orderId": "{{ event.data.id }}",
            "total": "{{ event.data.total }}",
            "note": "order {{ event.data.id }}",
        },
    )
    decision = decide(trigger, ORDER)
    assert decision.event_id == "e-1"
    assert decision.input == {"orderId": "o-7", "total": 12.5, "note": "order o-7"}
    assert decide(trigger, {**ORDER, "type": "order.cancelled"}).input is None


def test_every_event_passes_without_a_filter_and_a_custom_event_id_is_rendered():
    decision = decide(compiled(eventId="{{ event.source }}/{{ event.data.id }}"), ORDER)
    assert (decision.event_id, decision.input) == ("shop/o-7", {})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"filter": "event.type =="}, "spec.filter: syntax error at column 14"),
        ({"input": {"id": "{{ input.id }}"}}, "spec.input.id: unknown variable 'input' (use event)"),
        ({"input": {"deep": {"list": ["{{ event.data.id"]}}}, "spec.input.deep: unclosed template"),
        ({"eventId": "{{ now() }}"}, "spec.eventId: unknown function 'now'"),
    ],
)
def test_bad_expressions_name_their_field(fields, message):
    with pytest.raises(DefinitionInvalid) as raised:
        compiled(**fields)
    assert raised.value.reason == "InvalidExpression"
    assert message in str(raised.value)


def test_a_filter_that_is_not_boolean_or_fails_on_the_event_is_an_expression_error():
    with pytest.raises(ExpressionError, match="filter: must give true or false"):
        decide(compiled(filter="event.data.total"), ORDER)
    with pytest.raises(ExpressionError, match="no such key"):
        decide(compiled(input={"x": "{{ event.data.missing }}"}), ORDER)
    with pytest.raises(ExpressionError, match="eventId: must give a non-empty string"):
        decide(compiled(eventId="{{ event.data.total }}"), ORDER)


@pytest.mark.parametrize(
    "source",
    [
        {},
        {**KAFKA, "cloudEvents": {"auth": {"tokenSecretRef": {"name": "s", "key": "k"}}}},
        {"cloudEvents": {"auth": {}}},
        {"kafka": {"topic": "bad topic", "consumerGroup": "g"}},
    ],
)
def test_a_source_is_one_kafka_topic_or_cloud_events_with_one_auth(source):
    with pytest.raises(ValidationError):
        WorkflowTriggerSpec.model_validate(spec(source=source))


def test_defaults_record_failed_runs_and_take_the_cloud_event_id():
    parsed = WorkflowTriggerSpec.model_validate(spec())
    assert (parsed.runs.record, parsed.runs.successful_runs_history_limit, parsed.runs.failed_runs_history_limit) == (
        "Failed",
        0,
        100,
    )
    assert parsed.event_id == "{{ event.id }}"


def test_workflow_ids_and_run_names_are_fixed_by_the_event_id():
    first = trigger_workflow_id("shop", "order-created", "e-1")
    assert first == trigger_workflow_id("shop", "order-created", "e-1")
    assert first.startswith("shop/trigger/order-created/")
    assert len(first.rsplit("/", 1)[1]) == 32
    assert first != trigger_workflow_id("shop", "order-created", "e-2")
    assert trigger_run_name("order-created", "e-1") == f"order-created-{first.rsplit('/', 1)[1][:12]}"


@pytest.mark.parametrize(
    ("fields", "reason", "ready"),
    [
        ({"filter": "event.type == 'a'"}, "Accepted", "True"),
        ({"filter": "event.type =="}, "InvalidExpression", "False"),
        ({"runs": {"record": "Some"}}, "InvalidTrigger", "False"),
    ],
)
def test_the_operator_reports_ready_or_stalled(fields, reason, ready):
    status = trigger_status(check(spec(**fields)), {}, 3, NOW, kafka=True)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Ready"] == (ready, reason)
    assert conditions["Stalled"] == ("False" if ready == "True" else "True", reason)
    assert conditions["Reconciling"][0] == "False"
    assert status["observedGeneration"] == 3


CONSUMING_TRUE = {"type": "Consuming", "status": "True", "reason": "TopicFound", "message": "topic orders: 2 parts",
                  "lastTransitionTime": "2026-11-26T04:00:00Z", "observedGeneration": 2}  # fmt: skip


def test_a_served_kafka_trigger_keeps_the_consuming_condition_drift_events_wrote():
    status = trigger_status(check(spec()), {"conditions": [CONSUMING_TRUE]}, 3, NOW, kafka=True)
    assert CONSUMING_TRUE in status["conditions"]


def test_a_stalled_kafka_trigger_is_not_consuming_and_says_why():
    status = trigger_status(check(spec(filter="event.type ==")), {"conditions": [CONSUMING_TRUE]}, 3, NOW, kafka=True)
    consuming = next(c for c in status["conditions"] if c["type"] == "Consuming")
    assert (consuming["status"], consuming["reason"]) == ("False", "NotServed")
    assert "InvalidExpression" in consuming["message"]


def test_a_trigger_no_longer_on_kafka_drops_its_consuming_condition():
    cloud_events = {"cloudEvents": {"auth": {"tokenSecretRef": {"name": "t", "key": "token"}}}}
    previous = {"conditions": [CONSUMING_TRUE]}
    status = trigger_status(check(spec(source=cloud_events)), previous, 3, NOW, kafka=False)
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Reconciling", "Stalled"]
