"""WorkflowTriggers through kubectl and the real backends: the operator's check; Kafka records and CloudEvents
over HTTP starting runs once each (a redelivered event starts nothing); filters and templates; the receiver's
refusals (401 with nothing started, 413, 400)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from drift.run_contract import RunSnapshot
from drift.settings import temporal_settings
from drift.temporal_client import connect
from drift.trigger_events import trigger_workflow_id
from tests.conftest import DriftProcess, free_port, kubectl, stack_command
from tests.e2e.conftest import condition, eventually
from tests.e2e.test_cli import drift
from tests.e2e.test_workflow_runs import resume

pytestmark = pytest.mark.usefixtures("drift_operator")

ORDER_FLOW_NODES = [{"name": "done", "type": "success", "success": {"output": "input"}}]
ORDER_SCHEMA = {"type": "object", "required": ["orderId"], "properties": {"orderId": {"type": "string"}}}
MAPPING = {"orderId": "{{ event.data.id }}", "total": "{{ event.data.total }}", "source": "{{ event.source }}"}
TOKEN = "s3cret-token"  # noqa: S105 - the test Secret's value
CREATED = "event.type == 'order.created' && event.data.total > 0"


def workflow(namespace: str) -> dict:
    """`order-flow`: succeeds with its input as output (orderId required)."""
    spec = {"startAt": "done", "inputSchema": ORDER_SCHEMA, "nodes": ORDER_FLOW_NODES}
    metadata = {"name": "order-flow", "namespace": namespace}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": metadata, "spec": spec}


def trigger(namespace: str, name: str, **spec: Any) -> dict:
    source = {"kafka": {"topic": "orders", "consumerGroup": name}}
    spec = {"workflowRef": {"name": "order-flow"}, "source": source, **spec}
    metadata = {"name": name, "namespace": namespace}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowTrigger", "metadata": metadata, "spec": spec}


def secret(namespace: str, name: str, value: str) -> dict:
    metadata = {"name": name, "namespace": namespace}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "data": {"key": base64.b64encode(value.encode()).decode()},
    }


def kafka_topic(admin: AdminClient, prefix: str) -> str:
    """A new topic of two partitions, created (keep `admin` alive until then)."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(timeout=30)
    return topic


def ready_kafka_trigger(namespace: str, name: str, topic: str, group: str, **spec: Any) -> None:
    """Apply `order-flow` and a trigger of it reading `topic` from its beginning; wait until it is Ready."""
    body = trigger(namespace, name, **spec)
    body["spec"]["source"]["kafka"] = {"topic": topic, "consumerGroup": group, "initialOffset": "Earliest"}
    apply(workflow(namespace), body)
    kubectl("wait", f"wft/{name}", "-n", namespace, "--for=condition=Ready", "--timeout=60s")


def apply(*objects: dict) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))


def get(namespace: str, kind: str, name: str) -> dict:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def counts(namespace: str, name: str) -> dict[str, int]:
    status = get(namespace, "wft", name).get("status", {})
    return {key: status.get(key, 0) for key in ("received", "filtered", "started", "duplicates", "failed")}


async def _execution(stack_env: dict, workflow_id: str) -> tuple[str, RunSnapshot | None] | None:
    client = await connect(temporal_settings(stack_env))
    handle = client.get_workflow_handle(workflow_id, result_type=RunSnapshot)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    done = description.status == WorkflowExecutionStatus.COMPLETED
    return description.status.name, await handle.result() if done else None


def execution(stack_env: dict, workflow_id: str) -> tuple[str, RunSnapshot | None] | None:
    """(status, result once completed) of a Temporal execution; None if there is none."""
    return asyncio.run(_execution(stack_env, workflow_id))


def output_of(stack_env: dict, workflow_id: str) -> Any:
    """The run's output once it succeeded (the worker runs it)."""
    seen = eventually(lambda: (found := execution(stack_env, workflow_id)) and found[1], f"{workflow_id} completed")
    return seen.output


def test_a_trigger_with_bad_expressions_is_stalled_and_a_good_one_ready(namespace):
    apply(
        trigger(namespace, "good", filter=CREATED, input=MAPPING),
        trigger(namespace, "bad", filter="event.type ==", input={"id": "{{ input.id }}"}),
    )
    kubectl("wait", "wft/good", "-n", namespace, "--for=condition=Ready", "--timeout=60s")
    kubectl("wait", "wft/bad", "-n", namespace, "--for=condition=Stalled", "--timeout=60s")
    stalled = condition(get(namespace, "wft", "bad"), "Stalled")
    assert stalled["reason"] == "InvalidExpression"
    assert "spec.filter: syntax error at column 14" in stalled["message"]
    assert "spec.input.id: unknown variable 'input' (use event)" in stalled["message"]
    assert consuming(namespace, "bad")[:2] == ("False", "NotServed")  # written with Stalled, in one status write
    listed = kubectl("get", "wft", "-n", namespace).stdout.splitlines()
    header = ["NAME", "WORKFLOW", "TOPIC", "RECEIVED", "STARTED", "LAST", "READY", "CONSUMING", "AGE"]
    assert listed[0].split() == header

    apply(trigger(namespace, "bad", filter="event.type == 'order.created'"))
    eventually(lambda: condition(get(namespace, "wft", "bad"), "Ready").get("status") == "True", "bad fixed")


def test_admission_refuses_two_sources(namespace):
    both = trigger(namespace, "both")
    both["spec"]["source"]["cloudEvents"] = {"auth": {"tokenSecretRef": {"name": "s", "key": "token"}}}
    result = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(both), check=False)
    assert result.returncode != 0
    assert "give exactly one of kafka and cloudEvents" in result.stderr


def _ce_headers(event_id: str, event_type: str = "order.created") -> list[tuple[str, bytes]]:
    return [
        ("ce_id", event_id.encode()),
        ("ce_type", event_type.encode()),
        ("ce_source", b"shop"),
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/json"),
    ]


@pytest.mark.usefixtures("drift_worker")
def test_kafka_records_start_runs_once_each_filtered_and_mapped(namespace, stack_env, drift_events):
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = kafka_topic(admin, "orders")
    ready_kafka_trigger(namespace, "orders", topic, f"drift-{namespace}", filter=CREATED, input=MAPPING)

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    records = [
        ("o-1", "e-1", "order.created", 5),
        ("o-2", "e-2", "order.created", 0),  # filtered out: total 0
        ("o-3", "e-3", "order.cancelled", 9),  # filtered out: another type
        ("o-4", "e-4", "order.created", 7),
        ("o-1", "e-1", "order.created", 5),  # the sender's retry: a redelivery of e-1
    ]
    for order, event_id, event_type, total in records:
        value = json.dumps({"id": order, "total": total}).encode()
        producer.produce(topic, key=order.encode(), value=value, headers=_ce_headers(event_id, event_type))
    assert producer.flush(30) == 0

    expected = {"received": 5, "filtered": 2, "started": 2, "duplicates": 1, "failed": 0}
    eventually(lambda: counts(namespace, "orders") == expected, f"counts {expected}", timeout=90)
    status = get(namespace, "wft", "orders")["status"]
    assert len(status["lastRuns"]) == 2
    assert status["lastEventTime"]
    for order, event_id, total in (("o-1", "e-1", 5), ("o-4", "e-4", 7)):
        workflow_id = trigger_workflow_id(namespace, "orders", event_id)
        assert output_of(stack_env, workflow_id) == {"orderId": order, "total": total, "source": "shop"}
    assert execution(stack_env, trigger_workflow_id(namespace, "orders", "e-2")) is None  # counted filtered first

    assert 'drift_trigger_events_total{outcome="started",source="kafka"} 2.0' in drift_events.metrics()

    # Kafka re-reads the topic (the committed offsets set back, as after a crash before the commit): every
    # record arrives again, and not one run is started twice.
    drift_events.stop()
    group = ConsumerGroupTopicPartitions(f"drift-{namespace}", [TopicPartition(topic, p, 0) for p in range(2)])
    for future in admin.alter_consumer_group_offsets([group]).values():
        future.result(timeout=30)
    drift_events.start()
    expected = {"received": 10, "filtered": 4, "started": 2, "duplicates": 4, "failed": 0}
    eventually(lambda: counts(namespace, "orders") == expected, f"counts {expected} after the re-read", timeout=90)


def consuming(namespace: str, name: str) -> tuple[str, str, str]:
    found = condition(get(namespace, "wft", name), "Consuming")
    return found.get("status", ""), found.get("reason", ""), found.get("message", "")


def test_a_trigger_on_a_missing_topic_says_so_until_the_topic_exists(namespace, stack_env, drift_events):
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    topic = f"later-{uuid.uuid4().hex[:8]}"
    ready_kafka_trigger(namespace, "later", topic, f"drift-{namespace}-later")
    status, _, message = eventually(
        lambda: (seen := consuming(namespace, "later"))[1] == "TopicNotFound" and seen, "Consuming=False TopicNotFound"
    )
    assert status == "False"
    assert message.startswith(f"topic {topic} does not exist")
    series = f'drift_trigger_consuming{{name="later",namespace="{namespace}"}}'
    assert f"{series} 0.0" in drift_events.metrics()

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(timeout=30)
    found = eventually(lambda: (seen := consuming(namespace, "later"))[0] == "True" and seen, "Consuming=True")
    assert found[1:] == ("TopicFound", f"topic {topic}: 2 partitions")
    assert f"{series} 1.0" in drift_events.metrics()


@pytest.mark.usefixtures("drift_worker")
def test_recording_is_bounded_by_the_rate_and_the_rest_is_counted(namespace, stack_env, drift_events, tmp_path):
    """runs.record All at a burst of events: every run starts, but WorkflowRuns are created at no more than
    DRIFT_TRIGGER_RECORD_PER_SECOND (what keeps etcd bounded at any event rate); the rest are counted."""
    bootstrap, rate, burst = stack_env["DRIFT_KAFKA_BOOTSTRAP"], 5, 200
    topic = kafka_topic(AdminClient({"bootstrap.servers": bootstrap}), "burst")
    runs = {"record": "All", "successfulRunsHistoryLimit": 1000}
    ready_kafka_trigger(namespace, "burst", topic, f"burst-{namespace}", input=MAPPING, runs=runs)
    drift_events.stop()  # one replica, at a low rate, serves the trigger
    limited = DriftProcess("drift_events.main", stack_env, tmp_path / "events.log",
                           DRIFT_EVENTS_PORT=str(free_port()), DRIFT_TRIGGER_RECORD_PER_SECOND=str(rate))  # fmt: skip
    limited.start()
    try:
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        began = time.monotonic()
        for number in range(burst):
            value = json.dumps({"id": f"o-{number}", "total": 1}).encode()
            producer.produce(topic, value=value, headers=_ce_headers(f"b-{number}", "order.created"))
        assert producer.flush(30) == 0
        eventually(lambda: counts(namespace, "burst")["started"] == burst, f"{burst} runs started", timeout=180)
        elapsed = time.monotonic() - began
        status = eventually(lambda: (found := get(namespace, "wft", "burst")["status"]).get("unrecorded") and found,
                            "unrecorded counted")  # fmt: skip
        recorded_runs = len(recorded(namespace, "burst"))
        assert 0 < recorded_runs <= rate * elapsed + rate, f"{recorded_runs} WorkflowRuns in {elapsed:.1f}s"
        eventually(lambda: recorded_runs + get(namespace, "wft", "burst")["status"]["unrecorded"] == burst,
                   "every run recorded or counted unrecorded")  # fmt: skip
        assert status["started"] == burst
    finally:
        limited.stop()
        drift_events.start()


@pytest.fixture
def receiver(namespace, drift_worker, drift_events) -> str:
    """Two CloudEvents triggers on `order-flow`: `by-token` (a bearer token) and `signed` (HMAC-SHA256)."""
    token_auth = {"tokenSecretRef": {"name": "orders-token", "key": "key"}}
    hmac_auth = {"hmacSecretRef": {"name": "orders-hmac", "key": "key"}}
    apply(
        workflow(namespace),
        secret(namespace, "orders-token", TOKEN),
        secret(namespace, "orders-hmac", "hmac-key"),
        trigger(namespace, "by-token", filter=CREATED, input=MAPPING, source={"cloudEvents": {"auth": token_auth}}),
        trigger(namespace, "signed", input=MAPPING, source={"cloudEvents": {"auth": hmac_auth}}),
    )
    url = drift_events.receiver_url
    for name in ("by-token", "signed"):  # served once drift-events has listed it after the operator's check
        eventually(
            lambda name=name: httpx.post(f"{url}/triggers/{namespace}/{name}").status_code != 404, f"{name} served"
        )
    return f"{url}/triggers/{namespace}"


def binary(event_id: str, data: dict, token: str | None = TOKEN) -> dict[str, Any]:
    headers = {"ce-id": event_id, "ce-type": "order.created", "ce-source": "web", "ce-specversion": "1.0"}
    headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {"headers": headers, "content": json.dumps(data).encode()}


def signed(body: bytes, key: str = "hmac-key") -> dict[str, Any]:
    signature = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/cloudevents+json", "x-drift-signature": f"sha256={signature}"}
    return {"headers": headers, "content": body}


def test_cloud_events_with_a_token_start_runs_once(receiver, namespace, stack_env):
    first = httpx.post(f"{receiver}/by-token", **binary("h-1", {"id": "o-1", "total": 3}))
    assert first.status_code == 202, first.text
    assert first.json()["outcome"] == "started"
    again = httpx.post(f"{receiver}/by-token", **binary("h-1", {"id": "o-1", "total": 3}))
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    filtered = httpx.post(f"{receiver}/by-token", **binary("h-2", {"id": "o-2", "total": 0}))
    assert (filtered.status_code, filtered.json()["outcome"]) == (200, "filtered")
    workflow_id = first.json()["workflowId"]
    assert workflow_id == trigger_workflow_id(namespace, "by-token", "h-1")
    assert output_of(stack_env, workflow_id) == {"orderId": "o-1", "total": 3, "source": "web"}
    expected = {"received": 3, "filtered": 1, "started": 1, "duplicates": 1, "failed": 0}
    eventually(lambda: counts(namespace, "by-token") == expected, f"counts {expected}")


def test_a_wrong_token_or_signature_is_401_and_starts_nothing(receiver):
    for token in ("wrong", None):
        refused = httpx.post(f"{receiver}/by-token", **binary("h-401", {"id": "o-9", "total": 1}, token=token))
        assert refused.status_code == 401, refused.text
    body = json.dumps(
        {
            "id": "s-401",
            "type": "order.created",
            "source": "web",
            "specversion": "1.0",
            "data": {"id": "o-9", "total": 2},
        }
    )
    assert httpx.post(f"{receiver}/signed", **signed(body.encode(), key="not-the-key")).status_code == 401
    tampered = signed(body.encode())
    tampered["content"] = body.replace("o-9", "o-0").encode()
    assert httpx.post(f"{receiver}/signed", **tampered).status_code == 401
    # Nothing was started: the same events, now authenticated, start their runs (not duplicates).
    accepted = httpx.post(f"{receiver}/by-token", **binary("h-401", {"id": "o-9", "total": 1}))
    assert (accepted.status_code, accepted.json()["outcome"]) == (202, "started")
    accepted = httpx.post(f"{receiver}/signed", **signed(body.encode()))
    assert (accepted.status_code, accepted.json()["outcome"]) == (202, "started"), accepted.text


def test_oversized_and_malformed_events_are_refused_with_their_reason(receiver):
    huge = binary("h-big", {"id": "o-1", "blob": "x" * (1024 * 1024)})
    assert httpx.post(f"{receiver}/by-token", **huge).status_code == 413
    no_type = binary("h-bad", {"id": "o-1"})
    del no_type["headers"]["ce-type"]
    refused = httpx.post(f"{receiver}/by-token", **no_type)
    assert refused.status_code == 400
    assert refused.json()["error"] == "not a valid CloudEvent (binary mode): missing required attribute type"
    not_json = signed(b"{not json")
    refused = httpx.post(f"{receiver}/signed", **not_json)
    assert refused.status_code == 400
    assert "the body is not JSON" in refused.json()["error"]
    plain = {"headers": {"authorization": f"Bearer {TOKEN}", "content-type": "text/plain"}, "content": b"hi"}
    refused = httpx.post(f"{receiver}/by-token", **plain)
    assert (refused.status_code, refused.json()["error"]) == (
        400,
        "not a CloudEvent: no ce- headers (binary mode) and Content-Type text/plain "
        "(structured mode needs application/cloudevents+json)",
    )


def test_an_event_whose_input_does_not_fit_is_422(receiver, namespace):
    missing_id = httpx.post(f"{receiver}/by-token", **binary("h-422", {"id": 7, "total": 1}))
    assert missing_id.status_code == 422
    assert "input.orderId" in missing_id.json()["error"]
    eventually(lambda: counts(namespace, "by-token")["failed"] == 1, "the failure counted")


def maybe_fail(namespace: str) -> dict:
    """`maybe-fail`: fails (a failure node) when input.fail, asks a person first when input.ask, else succeeds."""
    choices = [{"when": "input.fail", "next": "boom"}, {"when": "input.ask", "next": "approve"}]
    approve = {"message": "Ship order?", "options": ["yes", "no"]}
    nodes = [
        {"name": "route", "type": "branch", "default": "done", "choices": choices},
        {"name": "boom", "type": "failure", "failure": {"code": "ORDER_BAD", "message": "bad order"}},
        {"name": "approve", "type": "instruction", "instruction": approve, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "input"}},
    ]
    metadata = {"name": "maybe-fail", "namespace": namespace}
    return {
        "apiVersion": "drift.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": {"startAt": "route", "nodes": nodes},
    }


def recording(namespace: str, name: str, runs: dict) -> dict:
    """A CloudEvents trigger (token auth) of `maybe-fail` recording its runs as `runs` says."""
    auth = {"tokenSecretRef": {"name": "orders-token", "key": "key"}}
    mapping = {"fail": "{{ event.data.fail }}", "ask": "{{ has(event.data.ask) && event.data.ask }}"}
    body = trigger(namespace, name, input=mapping, runs=runs)
    body["spec"].update(workflowRef={"name": "maybe-fail"}, source={"cloudEvents": {"auth": auth}})
    return body


def recorded(namespace: str, name: str) -> dict[str, dict]:
    listed = kubectl("get", "wfr", "-n", namespace, "-l", f"drift.dev/trigger={name}", "-o", "json").stdout
    return {run["metadata"]["name"]: run for run in json.loads(listed)["items"]}


@pytest.mark.usefixtures("drift_worker")
def test_recorded_runs_are_adopted_and_kept_within_the_history_limits(namespace, stack_env, drift_events):
    apply(
        maybe_fail(namespace),
        secret(namespace, "orders-token", TOKEN),
        recording(namespace, "all", {"record": "All", "successfulRunsHistoryLimit": 1}),
        recording(namespace, "failed", {"record": "Failed"}),
    )
    url = f"{drift_events.receiver_url}/triggers/{namespace}"
    for name in ("all", "failed"):
        eventually(lambda name=name: httpx.post(f"{url}/{name}").status_code != 404, f"{name} served")

    # All: every run is a WorkflowRun adopting the execution; the older Succeeded one goes past the limit.
    names = []
    for event_id in ("a-1", "a-2"):
        answer = httpx.post(f"{url}/all", **binary(event_id, {"fail": False}))
        assert answer.status_code == 202, answer.text
        names.append(answer.json()["run"])
        run = eventually(lambda n=names[-1]: recorded(namespace, "all").get(n), f"{names[-1]} recorded")
        assert run["metadata"]["annotations"]["drift.dev/execution"] == answer.json()["workflowId"]
        kubectl("wait", f"wfr/{names[-1]}", "-n", namespace, "--for=condition=Succeeded", "--timeout=60s")
    adopted = get(namespace, "wfr", names[-1])["status"]
    assert adopted["execution"]["workflowId"] == trigger_workflow_id(namespace, "all", "a-2")
    assert adopted["output"] == {"fail": False, "ask": False}
    eventually(lambda: list(recorded(namespace, "all")) == [names[1]], "the older run deleted (limit 1)", timeout=60)

    # Failed: only the failed run is recorded.
    fine = httpx.post(f"{url}/failed", **binary("f-1", {"fail": False})).json()
    output_of(stack_env, fine["workflowId"])  # finished before the failing one starts
    bad = httpx.post(f"{url}/failed", **binary("f-2", {"fail": True})).json()
    eventually(lambda: bad["run"] in recorded(namespace, "failed"), "the failed run recorded")
    kubectl("wait", f"wfr/{bad['run']}", "-n", namespace, "--for=jsonpath={.status.phase}=Failed", "--timeout=60s")
    assert list(recorded(namespace, "failed")) == [bad["run"]]


@pytest.mark.usefixtures("drift_worker")
def test_a_run_that_asks_a_person_is_recorded_and_answered_through_its_workflow_run(namespace, stack_env, drift_events):
    apply(
        maybe_fail(namespace),
        secret(namespace, "orders-token", TOKEN),
        recording(namespace, "asks", {"record": "None"}),
    )
    url = f"{drift_events.receiver_url}/triggers/{namespace}/asks"
    eventually(lambda: httpx.post(url).status_code != 404, "asks served")
    quiet = httpx.post(url, **binary("q-1", {"fail": False})).json()
    assert output_of(stack_env, quiet["workflowId"]) == {"fail": False, "ask": False}
    asking = httpx.post(url, **binary("q-2", {"fail": False, "ask": True})).json()

    run = eventually(lambda: recorded(namespace, "asks").get(asking["run"]), "the run that asks recorded")
    assert run["metadata"]["annotations"]["drift.dev/execution"] == asking["workflowId"]
    assert list(recorded(namespace, "asks")) == [asking["run"]]  # record None: the quiet run stays on Temporal
    kubectl("wait", f"wfr/{asking['run']}", "-n", namespace, "--for=jsonpath={.status.phase}=Waiting", "--timeout=60s")
    assert get(namespace, "wfr", asking["run"])["status"]["waitingFor"]["options"] == ["yes", "no"]
    # kubectl drift runs --trigger: both runs from Temporal, newest first, and which one is a WorkflowRun now.
    listed = drift("runs", "--trigger", "asks", "-n", namespace, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = [(row["name"], row["phase"], row["recorded"]) for row in json.loads(listed.stdout)]
    assert rows == [(asking["run"], "Waiting", True), (quiet["run"], "Succeeded", False)]
    missing = drift("runs", "--trigger", "nope", "-n", namespace)
    assert missing.returncode != 0
    assert f"WorkflowTrigger 'nope' not found in namespace '{namespace}'" in missing.stderr
    resume(namespace, asking["run"], {"node": "approve", "input": {"choice": "yes"}})
    kubectl("wait", f"wfr/{asking['run']}", "-n", namespace, "--for=condition=Succeeded", "--timeout=60s")
    assert output_of(stack_env, asking["workflowId"]) == {"fail": False, "ask": True}


def test_the_receiver_answers_503_while_temporal_is_down_and_starts_the_retried_event_after(receiver, stack_env):
    started = httpx.post(f"{receiver}/by-token", **binary("h-up", {"id": "o-5", "total": 5}))
    assert started.status_code == 202, started.text  # Temporal answering first
    stack_command(stack_env, "down", "temporal")
    try:
        refused = httpx.post(f"{receiver}/by-token", timeout=120, **binary("h-503", {"id": "o-6", "total": 6}))
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["error"].startswith("Temporal:")
    finally:
        stack_command(stack_env, "up", "temporal")
    retried = eventually(
        lambda: (
            (
                answer := httpx.post(f"{receiver}/by-token", timeout=60, **binary("h-503", {"id": "o-6", "total": 6}))
            ).status_code
            != 503
            and answer
        ),
        "Temporal back",
        timeout=120,
    )
    assert (retried.status_code, retried.json()["outcome"]) == (202, "started")
