"""drift-events' pure parts: CloudEvents as `event`, the status counters' arithmetic, the `Consuming`
condition, recorded runs, the record rate."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError
from prometheus_client import REGISTRY

from drift.models.run import AwaitedEvent, WaitingFor
from drift.models.trigger import WorkflowTriggerSpec
from drift.run_contract import RunSnapshot, RunStart
from drift.trigger_events import compile_trigger
from drift_events.cloud_events import MalformedEvent, from_http, from_kafka
from drift_events.counters import Pending, TriggerCounters
from drift_events.kafka_consumers import KafkaConsumers, TriggerConsumer, consuming
from drift_events.run_records import TokenBucket, must_record, recorded_run
from drift_events.served import Served

CE = {"ce-id": "e-1", "ce-type": "order.created", "ce-source": "shop", "ce-specversion": "1.0"}
STRUCTURED = {"content-type": "application/cloudevents+json"}


def test_binary_and_structured_mode_give_the_same_event():
    data = {"id": "o-1", "total": 3}
    binary = from_http({**CE, "Content-Type": "application/json"}, json.dumps(data).encode())
    document = {"id": "e-1", "type": "order.created", "source": "shop", "specversion": "1.0", "data": data}
    document["datacontenttype"] = "application/json"
    structured = from_http(STRUCTURED, json.dumps(document).encode())
    assert (
        binary
        == structured
        == {**{k.removeprefix("ce-"): v for k, v in CE.items()}, "datacontenttype": "application/json", "data": data}
    )
    assert "time" not in binary  # not made up when the sender gave none


@pytest.mark.parametrize(
    ("headers", "body", "problem"),
    [
        ({k: v for k, v in CE.items() if k != "ce-id"}, b"{}", "(binary mode): missing required attribute id"),
        ({**CE, "content-type": "application/json"}, b"{oops", "(binary mode): data is not JSON"),
        ({**CE, "ce-time": "yesterday"}, b"{}", "(binary mode)"),
        ({**CE, "ce-specversion": "0.1"}, b"{}", "specversion"),
        (STRUCTURED, b"[1]", "(structured mode): the body is not a JSON object"),
        (STRUCTURED, b'{"id": "x"}', "(structured mode): missing required attribute source, type, specversion"),
        ({"content-type": "application/json"}, b"{}", "no ce- headers (binary mode) and Content-Type application/json"),
    ],
)
def test_malformed_events_name_the_problem(headers, body, problem):
    with pytest.raises(MalformedEvent) as raised:
        from_http(headers, body)
    assert problem in str(raised.value)


def test_a_plain_kafka_record_is_an_event_identified_by_its_position():
    event = from_kafka(topic="orders", partition=1, offset=42, key=b"o-1", value=b'{"total": 3}', headers=[])
    assert event == {"id": "orders/1/42", "source": "kafka:orders", "type": "", "subject": "o-1", "data": {"total": 3}}
    text = from_kafka(topic="orders", partition=0, offset=1, key=None, value=b"plain text", headers=[])
    assert text["data"] == "plain text"
    headers = [(k.replace("-", "_"), v.encode()) for k, v in CE.items()]
    assert (
        from_kafka(topic="orders", partition=0, offset=1, key=None, value=b'{"a": 1}', headers=headers)["id"] == "e-1"
    )


def test_counts_are_added_to_the_status_and_the_newest_runs_come_first():
    pending = Pending("uid")
    pending.counts.update({"received": 3, "started": 2, "filtered": 1})
    pending.last_event = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    pending.runs.extend(["t-3", "t-4"])
    status = {"received": 10, "started": 7, "lastRuns": ["t-2", "t-1"], "lastEventTime": "2026-11-26T04:00:00Z"}
    added = pending.added_to(status)
    assert (added["received"], added["started"], added["filtered"], added["duplicates"]) == (13, 9, 1, 0)
    assert added["lastRuns"] == ["t-4", "t-3", "t-2", "t-1"]
    assert added["lastEventTime"] == "2026-11-26T05:00:00Z"


@pytest.mark.parametrize(
    ("error", "status", "reason", "said"),
    [
        (None, "True", "TopicFound", "topic orders: 3 partitions"),
        (KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART), "False", "TopicNotFound", "topic orders does not exist on"),
        (KafkaError(KafkaError._TRANSPORT, "Broker transport failure"), "False", "KafkaUnreachable", "kafka:9092"),
        (KafkaError(KafkaError._ALL_BROKERS_DOWN), "False", "KafkaUnreachable", "brokers kafka:9092"),
        (KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), "False", "KafkaError", "topic orders: "),
    ],
)
def test_the_consuming_condition_names_what_the_brokers_answered(error, status, reason, said):
    condition = consuming("orders", "kafka:9092", 3, error)
    assert (condition.type, condition.status, condition.reason) == ("Consuming", status, reason)
    assert said in condition.message


def test_a_reported_source_condition_is_set_beside_the_operators_conditions():
    ready = {"type": "Ready", "status": "True", "reason": "Accepted", "message": "", "observedGeneration": 4,
             "lastTransitionTime": "2026-11-26T04:00:00Z"}  # fmt: skip
    pending = Pending("uid", source=(4, consuming("orders", "kafka:9092", 0, KafkaError(KafkaError._TRANSPORT))))
    added = pending.added_to({"received": 2, "conditions": [ready]})
    assert added["received"] == 2
    assert added["conditions"][0] == ready
    consuming_now = added["conditions"][1]
    assert (consuming_now["type"], consuming_now["status"], consuming_now["reason"]) == (
        "Consuming", "False", "KafkaUnreachable")  # fmt: skip
    assert consuming_now["observedGeneration"] == 4
    assert "conditions" not in Pending("uid").added_to({"conditions": [ready]})


async def test_a_consumer_that_ended_with_an_error_is_reported_failed_then_started_again(monkeypatch):
    spec = WorkflowTriggerSpec.model_validate(
        {"workflowRef": {"name": "wf"}, "source": {"kafka": {"topic": "t", "consumerGroup": "g"}}}
    )
    trigger = Served("shop", "orders", "uid-1", 7, spec, compile_trigger(spec))
    patches: list[dict] = []

    async def get(plural: str, namespace: str, name: str) -> dict:
        return {"metadata": {"uid": "uid-1", "resourceVersion": "5"}, "status": {}}

    async def patch_status(plural: str, namespace: str, name: str, status: dict, resource_version: str) -> None:
        patches.append(status)

    counters = TriggerCounters(SimpleNamespace(get=get, patch_status=patch_status))
    consumers = KafkaConsumers(SimpleNamespace(), SimpleNamespace(), counters)

    async def broken(self) -> None:
        raise RuntimeError("broker said no")

    monkeypatch.setattr(TriggerConsumer, "run", broken)
    consumers.sync({trigger.key: trigger})
    await asyncio.sleep(0)  # the consumer ends
    consumers.sync({trigger.key: trigger})
    await counters.write()
    [condition] = patches[0]["conditions"]
    assert (condition["observedGeneration"], condition["reason"], condition["status"]) == (7, "ConsumerFailed", "False")
    assert condition["message"] == "the consumer ended: broker said no"
    assert REGISTRY.get_sample_value("drift_trigger_consuming", {"namespace": "shop", "name": "orders"}) == 0
    await consumers.close()  # the restarted one


def test_a_recorded_run_is_owned_pinned_and_names_its_execution():
    spec = WorkflowTriggerSpec.model_validate(
        {"workflowRef": {"name": "wf"}, "source": {"kafka": {"topic": "t", "consumerGroup": "g"}}}
    )
    trigger = Served("shop", "orders", "uid-1", 1, spec, compile_trigger(spec))
    start = RunStart(
        namespace="shop",
        run_name="orders-0123456789ab",
        run_uid="uid-1",
        workflow_name="wf",
        workflow_version="0123456789ab",
        input={"a": 1},
    )
    run = recorded_run(trigger, "shop/trigger/orders/0123", start, datetime(2026, 11, 26, tzinfo=UTC))
    meta = run["metadata"]
    assert meta["name"] == "orders-0123456789ab"
    assert meta["labels"] == {"drift.dev/trigger": "orders"}
    assert meta["annotations"]["drift.dev/execution"] == "shop/trigger/orders/0123"
    assert meta["ownerReferences"][0]["uid"] == "uid-1"
    assert run["spec"] == {"workflowRef": {"name": "wf", "version": "0123456789ab"}, "input": {"a": 1}}


def test_the_token_bucket_allows_its_rate_in_a_burst_then_refuses():
    bucket = TokenBucket(3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def _waiting(*waits: WaitingFor, main: WaitingFor | None = None) -> RunSnapshot:
    return RunSnapshot(phase="Waiting", waiting=list(waits), waiting_for=main)


NOW = datetime(2026, 11, 26, tzinfo=UTC)
ASKING = WaitingFor(node="approve", message="Ship it?", options=["yes", "no"], since=NOW)
PAYMENT = AwaitedEvent(type="payment.confirmed", key='payment.confirmed/data.orderId="A-1"')
AWAITING = WaitingFor(node="await-payment", message="await payment.confirmed", since=NOW, event=PAYMENT)


@pytest.mark.parametrize(
    ("record", "snapshot", "expected"),
    [
        ("None", _waiting(main=ASKING), True),  # a person answers through the WorkflowRun, whatever record says
        ("Failed", _waiting(AWAITING, ASKING), True),  # one branch asks while another awaits an event
        ("All", _waiting(main=ASKING), True),  # recorded at its start unless past the rate then
        ("None", _waiting(main=AWAITING), False),  # an event answers, not a person
        ("Failed", RunSnapshot(phase="Failed"), True),
        ("None", RunSnapshot(phase="Failed"), False),
        ("Failed", RunSnapshot(phase="Succeeded"), False),
    ],
)
def test_runs_that_ask_a_person_are_recorded_whatever_the_trigger_records(record, snapshot, expected):
    assert must_record(record, snapshot) is expected


class _Recorder:
    """Counts what the starter asks to record."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.again: list[str] = []

    async def record(self, _trigger: Served, workflow_id: str, *_: object) -> None:
        self.started.append(workflow_id)

    async def record_execution(self, _trigger: Served, workflow_id: str) -> None:
        self.again.append(workflow_id)


@pytest.mark.parametrize(("record", "again"), [("All", 1), ("Failed", 0), ("None", 0)])
async def test_a_duplicate_of_a_recorded_trigger_is_recorded_again(monkeypatch, record, again):
    """drift-events may crash between starting a run and recording it; the event comes again as a duplicate."""
    from drift import run_start  # noqa: PLC0415
    from drift_events.starter import Starter  # noqa: PLC0415

    pinned = run_start.Pinned(stored=SimpleNamespace(version="0123456789ab"), timeout_seconds=None)  # type: ignore[arg-type]
    run_ids = iter(["run-1", None])

    async def pin(*_: object) -> run_start.Pinned:
        return pinned

    async def start(*_: object) -> str | None:
        return next(run_ids)

    monkeypatch.setattr(run_start, "pin", pin)
    monkeypatch.setattr(run_start, "start", start)
    spec = WorkflowTriggerSpec.model_validate(
        {
            "workflowRef": {"name": "wf"},
            "source": {"kafka": {"topic": "t", "consumerGroup": "g"}},
            "runs": {"record": record},
        }
    )
    trigger = Served("shop", "orders", "uid-1", 1, spec, compile_trigger(spec))
    recorder = _Recorder()
    starter = Starter(None, None, "drift", recorder)  # type: ignore[arg-type]
    event = {"id": "e-1", "type": "order.created", "source": "shop", "data": {}}
    assert (await starter.handle(trigger, event)).kind == "started"
    assert (await starter.handle(trigger, event)).kind == "duplicate"
    assert len(recorder.again) == again
    assert recorder.again == recorder.started[:again]
