"""Events keep flowing through crashes, against the real broker and real HTTP: the operator, the worker and
drift-events SIGKILLed in turn while Kafka records and CloudEvents arrive; the worker (and its event
dispatcher) SIGKILLed while runs wait at an `event` node; Kafka stopped and started under a trigger.

What at least once allows, and what the tests hold the product to:
- a trigger's run starts once per event id, whatever is re-read or re-sent (Temporal rejects the fixed
  workflow id a second time);
- a run's side effects (an http node) happen once, except a request in flight when the worker is killed: its
  activity times out and runs again on the restarted worker (the test allows exactly that, nothing else).

The CloudEvents receiver uses nothing Kafka provides (it starts runs through Temporal): the Kafka test has it
answer 202 while the broker is down.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from temporalio.client import WorkflowExecutionStatus

from drift.run_contract import RunSnapshot
from drift.settings import temporal_settings
from drift.temporal_client import connect
from drift.trigger_events import run_key, trigger_run_name
from tests.conftest import DriftProcess, kubectl, stack_command
from tests.e2e.conftest import eventually
from tests.e2e.test_triggers import TOKEN, apply, binary, consuming, kafka_topic, secret

pytestmark = [pytest.mark.usefixtures("drift_operator"), pytest.mark.timeout(600)]
START_SECONDS = 240
"""A restarted process may take minutes to answer /healthz on a loaded 2-core machine."""
TAIL = 10
"""Events each sender sends after the last process is back."""
WAITING_RUNS = 20
PAUSE_EVENTS = 15
"""Events before the broker stops, while it is down (buffered by the producer) and after it is back."""


class Hits(ThreadingHTTPServer):
    """Counts `POST /hit/{event id}`: the side effect of the triggered runs, with the monotonic time of each."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HitHandler)
        self.lock = threading.Lock()
        self.hits: dict[str, list[float]] = defaultdict(list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def of(self, event_id: str) -> list[float]:
        with self.lock:
            return list(self.hits.get(event_id, ()))

    def total(self) -> int:
        with self.lock:
            return sum(len(times) for times in self.hits.values())


class _HitHandler(BaseHTTPRequestHandler):
    server: Hits

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        with self.server.lock:
            self.server.hits[self.path.rsplit("/", 1)[-1]].append(time.monotonic())
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def hits() -> Iterator[Hits]:
    server = Hits()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def running(drift_operator, drift_worker, drift_events) -> Iterator[tuple[DriftProcess, ...]]:
    """The module's three processes, started again after the test if it left one killed."""
    processes = (drift_operator, drift_worker, drift_events)
    yield processes
    for process in processes:
        if process.process is None:
            process.start(timeout=START_SECONDS)


def counted_flow(namespace: str, hits_url: str) -> dict:
    """`counted`: POSTs /hit/{input.eventId} (a 5 s attempt, retried), then succeeds."""
    http = {"method": "POST", "url": f"{hits_url}/hit/{{{{ input.eventId }}}}", "body": {"id": "{{ input.eventId }}"}}
    retry = {"maxAttempts": 20, "initialIntervalSeconds": 0.5, "maximumIntervalSeconds": 2}
    nodes = [
        {"name": "call", "type": "http", "http": http, "timeoutSeconds": 5, "retry": retry, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "input"}},
    ]
    metadata = {"name": "counted", "namespace": namespace}
    spec = {"startAt": "call", "nodes": nodes}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": metadata, "spec": spec}


def counted_trigger(namespace: str, name: str, source: dict, record: str = "None") -> dict:
    spec = {
        "workflowRef": {"name": "counted"},
        "source": source,
        "input": {"eventId": "{{ event.id }}"},
        "runs": {"record": record, "successfulRunsHistoryLimit": 1000},
    }
    metadata = {"name": name, "namespace": namespace}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowTrigger", "metadata": metadata, "spec": spec}


def kafka_source(namespace: str, topic: str) -> dict:
    return {"kafka": {"topic": topic, "consumerGroup": f"faults-{namespace}-{topic}", "initialOffset": "Earliest"}}


def headers(event_id: str, event_type: str = "order.created") -> dict[str, str]:
    return {"ce_id": event_id, "ce_type": event_type, "ce_source": "faults", "ce_specversion": "1.0",
            "content-type": "application/json"}  # fmt: skip


def producer(bootstrap: str) -> Producer:
    """An idempotent producer that keeps undelivered records for 5 minutes (the broker may be down)."""
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "message.timeout.ms": 300_000})


@dataclass
class Published:
    """The events sent so far: when each was sent (monotonic) and, for CloudEvents, every HTTP answer it got."""

    at: dict[str, float] = field(default_factory=dict)
    answers: dict[str, list[int | str]] = field(default_factory=lambda: defaultdict(list))
    last: threading.Event = field(default_factory=threading.Event)
    """Set: the senders send `TAIL` more events each, then end."""

    def ids(self, prefix: str) -> Iterator[str]:
        """`{prefix}-0`, `{prefix}-1`, ... until `TAIL` after `last` is set."""
        count = 0
        while not self.last.is_set():
            yield f"{prefix}-{count}"
            count += 1
        yield from (f"{prefix}-{count + i}" for i in range(TAIL))

    def sent(self, prefix: str) -> list[str]:
        return [event_id for event_id in self.at if event_id.startswith(f"{prefix}-")]


def publish_kafka(bootstrap: str, topic: str, pace: float, published: Published) -> None:
    """Produce records `pace` seconds apart (ids `k-N`) until told to end; every record delivered."""
    sender = producer(bootstrap)
    for event_id in published.ids("k"):
        sender.produce(topic, key=event_id, value=json.dumps({"n": event_id}), headers=headers(event_id))
        published.at[event_id] = time.monotonic()
        sender.poll(0)
        time.sleep(pace)
    assert sender.flush(120) == 0, "records not delivered"


def send_cloud_events(url: str, pace: float, published: Published) -> None:
    """POST CloudEvents (ids `h-N`) as an at-least-once sender does: the same event again after a connection
    error, a timeout, 503 (a backend down) or 404 (a restarted receiver not serving the trigger yet)."""
    with httpx.Client(timeout=10) as client:
        for event_id in published.ids("h"):
            published.at[event_id] = time.monotonic()
            while True:
                try:
                    answer: int | str = client.post(url, **binary(event_id, {"n": event_id})).status_code
                except httpx.TransportError as exc:
                    answer = type(exc).__name__
                published.answers[event_id].append(answer)
                if answer not in (404, 503) and not isinstance(answer, str):
                    break
                time.sleep(0.2)
            time.sleep(pace)


async def _executions(stack_env: dict, prefix: str) -> list[tuple[str, WorkflowExecutionStatus | None]]:
    client = await connect(temporal_settings(stack_env))
    query = f'WorkflowId STARTS_WITH "{prefix}"'
    return [(execution.id, execution.status) async for execution in client.list_workflows(query)]


def executions(stack_env: dict, prefix: str) -> list[tuple[str, WorkflowExecutionStatus | None]]:
    """Every execution (each run of each workflow id) whose workflow id starts with `prefix`."""
    return asyncio.run(_executions(stack_env, prefix))


async def _results(stack_env: dict, workflow_ids: list[str]) -> dict[str, RunSnapshot]:
    client = await connect(temporal_settings(stack_env))
    results = await asyncio.gather(
        *(client.get_workflow_handle(wid, result_type=RunSnapshot).result() for wid in workflow_ids)
    )
    return dict(zip(workflow_ids, results, strict=True))


def all_ran_once(stack_env: dict, namespace: str, trigger: str, ids: list[str], timeout: float = 150) -> None:
    """Each event id started exactly one execution of `trigger`'s, and each ended Succeeded."""
    results = ran_once(stack_env, f"{namespace}/trigger/{trigger}/", len(ids), timeout)
    assert {r.output["eventId"] for r in results.values()} == set(ids)


def ran_once(stack_env: dict, prefix: str, expected: int, timeout: float) -> dict[str, RunSnapshot]:
    """The results of the `expected` executions under `prefix` once all completed: each workflow id once,
    each Succeeded."""

    def closed() -> list | None:
        found = executions(stack_env, prefix)
        done = [e for e in found if e[1] == WorkflowExecutionStatus.COMPLETED]
        return found if len(found) >= expected and len(done) == len(found) else None

    found = poll(closed, f"{expected} executions under {prefix} completed", timeout)
    workflow_ids = [wid for wid, _ in found]
    assert len(workflow_ids) == len(set(workflow_ids)), "a workflow id ran twice"
    assert len(workflow_ids) == expected, f"{len(workflow_ids)} runs for {expected} events"
    results = asyncio.run(_results(stack_env, workflow_ids))
    failed = {wid: result.error for wid, result in results.items() if result.phase != "Succeeded"}
    assert not failed, failed
    return results


def poll(check: Callable[[], Any], what: str, timeout: float, every: float = 2.0) -> Any:
    """`eventually` for checks too heavy to run more than every `every` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return found


def recorded_runs(namespace: str, trigger: str) -> list[dict]:
    listed = kubectl("get", "wfr", "-n", namespace, "-l", f"drift.dev/trigger={trigger}", "-o", "json").stdout
    return json.loads(listed)["items"]


@dataclass
class Outage:
    """One process killed: when it went down and when it was healthy again (monotonic)."""

    process: str
    killed: float
    back: float = 0.0


def kill_then_start(process: DriftProcess, name: str, while_down: Callable[[], Any]) -> Outage:
    """SIGKILL `process`, wait for `while_down` (a sign that events went on arriving), start it again."""
    outage = Outage(name, time.monotonic())
    process.kill()
    eventually(while_down, f"events arriving while {name} is down", timeout=60)
    process.start(timeout=START_SECONDS)
    outage.back = time.monotonic()
    return outage


def test_kill_the_operator_the_worker_and_drift_events_in_turn_while_events_flow(namespace, stack_env, hits, running):
    """Every event starts one run, every run succeeds, every side effect happens once (bar the worker's
    in-flight requests) and every recorded run exists once, adopted by the operator."""
    operator, worker, events = running
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    topic = kafka_topic(AdminClient({"bootstrap.servers": bootstrap}), "flow")
    apply(
        counted_flow(namespace, hits.url),
        secret(namespace, "token", TOKEN),
        counted_trigger(namespace, "from-kafka", kafka_source(namespace, topic)),
        counted_trigger(
            namespace, "from-http", {"cloudEvents": {"auth": {"tokenSecretRef": {"name": "token", "key": "key"}}}},
            record="All",
        ),
    )  # fmt: skip
    url = f"{events.receiver_url}/triggers/{namespace}/from-http"
    eventually(lambda: httpx.post(url).status_code != 404, "from-http served")
    published = Published()
    with ThreadPoolExecutor(2) as pool:
        senders: list[Future[None]] = [
            pool.submit(publish_kafka, bootstrap, topic, 1.0, published),
            pool.submit(send_cloud_events, url, 2.5, published),
        ]
        try:
            eventually(lambda: hits.total() >= 5, "the first runs' requests")  # the module's first test
            outages = []
            seen = hits.total()
            outages.append(kill_then_start(operator, "operator", lambda: hits.total() >= seen + 5))
            seen = len(published.at)
            outages.append(kill_then_start(worker, "worker", lambda: len(published.at) >= seen + 10))
            seen = len(published.at)
            outages.append(kill_then_start(events, "drift-events", lambda: len(published.at) >= seen + 10))
        finally:
            published.last.set()
        for sender in senders:
            sender.result(timeout=120)
    kafka_ids, http_ids = published.sent("k"), published.sent("h")

    all_ran_once(stack_env, namespace, "from-kafka", kafka_ids)
    all_ran_once(stack_env, namespace, "from-http", http_ids)
    assert {answers[-1] for answers in published.answers.values()} <= {200, 202}, published.answers

    # The side effect: once per event, twice only for a request in flight when the worker was killed.
    worker_killed = outages[1].killed
    twice = []
    for event_id in kafka_ids + http_ids:
        times = eventually(lambda event_id=event_id: hits.of(event_id), f"{event_id}'s request", timeout=10)
        if len(times) == 2 and times[0] <= worker_killed <= times[1]:
            twice.append(event_id)
        else:
            assert len(times) == 1, f"{event_id} requested {len(times)} times"

    resends = sum(len(answers) - 1 for answers in published.answers.values())
    print(f"\nkills: events {len(kafka_ids)} Kafka + {len(http_ids)} HTTP, lost 0, runs started twice 0, "
          f"requests repeated (in flight at the worker kill) {len(twice)}, CloudEvents re-sent {resends}")  # fmt: skip
    for outage in outages:  # how long until a Kafka record produced during the outage had its side effect
        meanwhile = [min(hits.of(e)) for e in kafka_ids if outage.killed <= published.at[e] <= outage.back]
        print(f"  {outage.process}: down {outage.back - outage.killed:.1f} s; the first Kafka record produced "
              f"meanwhile requested {min(meanwhile) - outage.back:+.1f} s after it was back")  # fmt: skip

    # Recorded runs: one WorkflowRun per CloudEvent, each adopted and Succeeded once the operator is back.
    expected = {trigger_run_name("from-http", event_id) for event_id in http_ids}
    deadline = time.monotonic() + 90
    while True:
        runs = {
            run["metadata"]["name"]: run.get("status", {}).get("phase") for run in recorded_runs(namespace, "from-http")
        }
        unfinished = {name: phase for name, phase in runs.items() if phase != "Succeeded"}
        if set(runs) == expected and not unfinished:
            break
        assert time.monotonic() < deadline, (
            f"recorded runs: missing {expected - set(runs)}, extra {set(runs) - expected}, not Succeeded {unfinished}"
        )
        time.sleep(0.5)


def awaiting_flow(namespace: str, topic: str) -> dict:
    """`await-payment`: waits for payment.confirmed with the run's orderId, outputs the event."""
    block = {"source": {"kafka": {"topic": topic}}, "type": "payment.confirmed",
             "correlation": "event.data.orderId == input.orderId", "timeoutSeconds": 600}  # fmt: skip
    nodes = [
        {"name": "await", "type": "event", "event": block, "next": "paid"},
        {"name": "paid", "type": "success", "success": {"output": "context['await']"}},
    ]
    metadata = {"name": "await-payment", "namespace": namespace}
    spec = {"startAt": "await", "nodes": nodes}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": metadata, "spec": spec}


def awaiting_run(namespace: str, order: str) -> dict:
    spec = {"workflowRef": {"name": "await-payment"}, "input": {"orderId": order}}
    metadata = {"name": order, "namespace": namespace}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowRun", "metadata": metadata, "spec": spec}


def phases(namespace: str) -> dict[str, dict]:
    listed = json.loads(kubectl("get", "wfr", "-n", namespace, "-o", "json").stdout)["items"]
    return {run["metadata"]["name"]: run.get("status", {}) for run in listed}


def test_runs_waiting_at_an_event_node_get_their_events_across_a_worker_kill(namespace, stack_env, running):
    _, worker, _ = running
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    topic = kafka_topic(AdminClient({"bootstrap.servers": bootstrap}), "payments")
    apply(awaiting_flow(namespace, topic))
    kubectl("wait", "workflow/await-payment", "-n", namespace, "--for=condition=Ready", "--timeout=60s")
    # Order ids of this test's own: an inbox is keyed by event type and correlation value, not by topic or
    # namespace, so another test's payment for "o-1" would be taken at once.
    orders = [f"{namespace}-o-{i}" for i in range(WAITING_RUNS)]
    apply(*(awaiting_run(namespace, order) for order in orders))

    def waiting() -> bool:
        found = phases(namespace)
        return len(found) == len(orders) and all(status.get("phase") == "Waiting" for status in found.values())

    poll(waiting, "every run waiting for its payment", 180)

    sender = producer(bootstrap)
    sent = 0

    def send(count: int) -> None:
        nonlocal sent
        for order in orders[sent : sent + count]:
            payment = {"orderId": order, "paid": True}
            sender.produce(
                topic, key=order, value=json.dumps(payment), headers=headers(f"pay-{order}", "payment.confirmed")
            )
            sender.poll(0)
            time.sleep(0.1)
        sent += count
        assert sender.flush(60) == 0

    send(WAITING_RUNS // 4)
    completed = WorkflowExecutionStatus.COMPLETED
    poll(lambda: any(e[1] == completed for e in executions(stack_env, f"{namespace}/")), "a first run paid", 60, 0.5)
    killed = time.monotonic()
    worker.kill()
    send(WAITING_RUNS // 2)  # while the worker, and its dispatcher, are gone
    worker.start(timeout=START_SECONDS)
    back = time.monotonic()
    send(WAITING_RUNS - sent)
    results = ran_once(stack_env, f"{namespace}/", len(orders), 240)
    paid = {result.output["data"]["orderId"]: result.output["id"] for result in results.values()}
    assert paid == {order: f"pay-{order}" for order in orders}
    print(f"\nevent node: {WAITING_RUNS} runs, {WAITING_RUNS} events, lost 0; worker down {back - killed:.1f} s, "
          f"every run paid {time.monotonic() - back:.1f} s after it was back")  # fmt: skip


def test_kafka_stopped_and_started_pauses_a_trigger_and_loses_nothing(namespace, stack_env, hits, running):
    _, _, events = running
    bootstrap = stack_env["DRIFT_KAFKA_BOOTSTRAP"]
    topic = kafka_topic(AdminClient({"bootstrap.servers": bootstrap}), "paused")
    auth = {"cloudEvents": {"auth": {"tokenSecretRef": {"name": "token", "key": "key"}}}}
    apply(
        counted_flow(namespace, hits.url),
        secret(namespace, "token", TOKEN),
        counted_trigger(namespace, "paused", kafka_source(namespace, topic)),
        counted_trigger(namespace, "direct", auth),
    )
    url = f"{events.receiver_url}/triggers/{namespace}/direct"
    eventually(lambda: httpx.post(url).status_code != 404, "direct served")
    before, during, after = ([f"{part}-{i}" for i in range(PAUSE_EVENTS)] for part in ("before", "during", "after"))
    prefix = f"{namespace}/trigger/paused/"
    sender = producer(bootstrap)
    for event_id in before:
        sender.produce(topic, key=event_id, value="{}", headers=headers(event_id))
    assert sender.flush(30) == 0
    eventually(lambda: executions(stack_env, prefix), "the first runs started")

    eventually(lambda: consuming(namespace, "paused")[0] == "True", "the trigger Consuming")
    stack_command(stack_env, "down", "kafka")
    stopped = time.monotonic()
    try:  # the trigger says its consumer lost the brokers (checked every 10 s, written within 5 s)
        eventually(lambda: consuming(namespace, "paused")[1] == "KafkaUnreachable", "KafkaUnreachable", timeout=60)
        for event_id in during:  # kept by the producer until the broker is back
            sender.produce(topic, key=event_id, value="{}", headers=headers(event_id))
        sender.poll(0)
        # The receiver needs nothing from Kafka: a CloudEvent starts its run while the broker is down.
        answer = httpx.post(url, timeout=30, **binary("direct-1", {}))
        assert answer.status_code == 202, answer.text
        started = {wid.rsplit("/", 1)[-1] for wid, _ in executions(stack_env, prefix)}
        assert not started & {run_key(e) for e in during}, "a run started from a record Kafka never had"
    finally:
        stack_command(stack_env, "up", "kafka")
    back = time.monotonic()
    assert sender.flush(120) == 0
    for event_id in after:
        sender.produce(topic, key=event_id, value="{}", headers=headers(event_id))
    assert sender.flush(60) == 0
    all_ran_once(stack_env, namespace, "paused", before + during + after)
    all_ran_once(stack_env, namespace, "direct", ["direct-1"])
    eventually(lambda: consuming(namespace, "paused")[:2] == ("True", "TopicFound"), "Consuming again", timeout=30)
    for event_id in before + during + after:
        assert len(eventually(lambda e=event_id: hits.of(e), f"{event_id}'s request", timeout=10)) == 1
    first = min(hits.of(e)[0] for e in during)
    print(f"\nkafka: {3 * PAUSE_EVENTS} events, lost 0, duplicates 0; broker down {back - stopped:.1f} s, "
          f"first run of a record produced meanwhile {first - back:.1f} s after it was back")  # fmt: skip
