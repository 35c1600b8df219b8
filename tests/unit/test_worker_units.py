"""Pure parts of the worker: egress policy, CEL values as JSON, graph resolution."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from drift.stored_definition import StoredDefinition
from drift_worker import activities, secret_access
from drift_worker.context_values import CACHE_BYTES, ContextLimits, ValueCache, ValueRef, named_keys
from drift_worker.egress import EgressPolicy, parse_cidrs, policy_from_env
from drift_worker.graph import PinnedGraph, ResolvedNode
from drift_worker.main import context_limits
from drift_worker.secret_access import ALLOWED_HOSTS_ANNOTATION, USABLE_LABEL
from drift_worker.values import to_json


@pytest.mark.parametrize(
    ("addresses", "denied"),
    [
        (["169.254.169.254"], "169.254.169.254"),
        (["fd00:ec2::254"], "fd00:ec2::254"),
        (["10.0.0.1", "169.254.1.1"], "169.254.1.1"),
        (["127.0.0.1", "93.184.216.34", "::1"], None),
    ],
)
def test_default_policy_denies_link_local_and_metadata(addresses, denied):
    assert EgressPolicy().denied(addresses) == denied


def test_configured_deny_and_allow_lists():
    policy = policy_from_env({"DRIFT_EGRESS_DENY_CIDRS": "10.0.0.0/8", "DRIFT_EGRESS_ALLOW_CIDRS": "10.1.0.0/16"})
    assert policy.denied(["10.2.3.4"]) == "10.2.3.4"
    assert policy.denied(["10.1.3.4"]) is None
    assert policy.denied(["169.254.169.254"]) == "169.254.169.254"


def test_bad_cidrs_are_rejected_with_the_entry():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not a CIDR"):
        parse_cidrs("10.0.0.0/8, 10.0.0.0/33")


def test_cel_values_become_json():
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    value = {"t": moment, "d": timedelta(minutes=1), "b": b"hi", "l": (1, [2.5, None]), 3: True}
    assert to_json(value) == {"t": "2024-01-01T00:00:00Z", "d": 60.0, "b": "aGk=", "l": [1, [2.5, None]], "3": True}


def test_ref_nodes_merge_their_definition_and_keep_workflow_overrides():
    node = StoredDefinition.build("node", "ns", "fetch", {
        "type": "http", "http": {"url": "http://x"}, "retry": {"maxAttempts": 5}, "output": {"key": "order"},
    }, None)  # fmt: skip
    workflow = StoredDefinition.build("workflow", "ns", "wf", {"startAt": "a", "nodes": [
        {"name": "a", "ref": {"name": "fetch"}, "next": "b", "retry": {"maxAttempts": 2}},
        {"name": "b", "type": "success"},
    ]}, {"a": node.version})  # fmt: skip
    graph = PinnedGraph.build(workflow, {"a": node})
    resolved = graph.nodes["a"]
    assert (resolved.type, resolved.http.url, resolved.next) == ("http", "http://x", "b")
    assert resolved.retry.max_attempts == 2
    assert resolved.output_key == "order"
    assert resolved.ref == f"fetch_{node.version}"
    assert graph.nodes["b"].output_key == "b"
    assert PinnedGraph.model_validate_json(graph.model_dump_json()) == graph


@pytest.mark.parametrize(
    ("labels", "annotations", "url", "allowed"),
    [
        (None, None, "https://api.example.com/x", False),
        ({USABLE_LABEL: "false"}, None, "https://api.example.com/x", False),
        ({USABLE_LABEL: "true"}, None, "https://anywhere.test/x", True),
        ({USABLE_LABEL: "true"}, {ALLOWED_HOSTS_ANNOTATION: "api.example.com"}, "https://API.example.com:8443/x", True),
        ({USABLE_LABEL: "true"}, {ALLOWED_HOSTS_ANNOTATION: "api.example.com"}, "https://evil.test/x", False),
        ({USABLE_LABEL: "true"}, {ALLOWED_HOSTS_ANNOTATION: "*.example.com"}, "https://pay.example.com/x", True),
        ({USABLE_LABEL: "true"}, {ALLOWED_HOSTS_ANNOTATION: "*.example.com"}, "https://example.com.evil.test/", False),
        ({USABLE_LABEL: "true"}, {ALLOWED_HOSTS_ANNOTATION: ""}, "https://api.example.com/x", False),
    ],
)
def test_secret_use_needs_the_opt_in_label_and_an_allowed_host(labels, annotations, url, allowed):
    assert (secret_access.refusal("token", labels, annotations, url) is None) == allowed


V1, V2 = "a1" * 6, "b2" * 6


def test_pins_are_kept_per_node_and_old_versions_still_read_per_definition():
    spec = {"startAt": "a", "nodes": [
        {"name": "a", "ref": {"name": "x", "version": V1}, "next": "b"},
        {"name": "b", "ref": {"name": "x"}, "next": "c"},
        {"name": "c", "type": "success"},
    ]}  # fmt: skip
    pinned = StoredDefinition.build("workflow", "ns", "wf", spec, {"a": V1, "b": V2})
    assert pinned.pinned_nodes() == {"a": ("x", V1), "b": ("x", V2)}
    assert StoredDefinition.from_body(pinned.body()) == pinned
    old = StoredDefinition.model_validate(
        {
            "kind": "workflow",
            "namespace": "ns",
            "name": "wf",
            "version": "0ld",
            "spec": spec,
            "nodeVersions": {"x": V2},
        }
    )
    assert old.pinned_nodes() == {"a": ("x", V2), "b": ("x", V2)}


def test_node_definition_bodies_keep_the_bytes_they_had_before_node_pins():
    node = StoredDefinition.build("node", "ns", "x", {"type": "script", "script": {"expression": "1"}}, None)
    assert b"nodePins" not in node.body()
    assert b'"nodeVersions":{}' in node.body()


def test_a_node_loads_the_stored_values_its_expressions_name():
    keys = ["order", "big-one", "a"]
    node = ResolvedNode(name="n", type="script", script={"expression": "context.order.id + context['big-one'].x"})
    assert named_keys(node.model_dump_json(), keys) == ["order", "big-one"]
    assert named_keys('{"when": "context[\\"a\\"] > 1 && context.orders"}', keys) == ["a"]


def test_the_value_cache_keeps_what_the_node_needs_and_evicts_the_oldest():
    cache, size = ValueCache(), CACHE_BYTES // 2
    refs = {key: ValueRef(column=f"value/{key}/1", bytes=size) for key in "abc"}
    for key in "abc":
        cache.put(key, refs[key], key * 3, keep={"a", key})
    assert (cache.get("a", refs["a"]), cache.get("b", refs["b"]), cache.get("c", refs["c"])) == ("aaa", None, "ccc")
    assert cache.get("a", ValueRef(column="value/a/2", bytes=size)) is None, "a key stored again is a new value"


def test_context_limits_come_from_the_environment():
    assert context_limits({}) == ContextLimits(inline_bytes=64 * 1024, max_bytes=64 * 1024 * 1024)
    assert context_limits({"DRIFT_CONTEXT_INLINE_BYTES": "10", "DRIFT_CONTEXT_MAX_BYTES": "20"}).max_bytes == 20


class _Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "payments"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def headers(self) -> list:
        return []

    def key(self) -> None:
        return None

    def value(self) -> bytes:
        return b"not a CloudEvent"


class _Consumer:
    """Two records; the first commit fails as it does while the broker is down."""

    def __init__(self) -> None:
        self.queue = [_Message(0), _Message(1)]
        self.committed: list[int] = []
        self.closed = False

    def subscribe(self, _topics: list[str]) -> None:
        pass

    def poll(self, _timeout: float) -> _Message | None:
        return self.queue.pop(0) if self.queue else None

    def commit(self, message: _Message, asynchronous: bool) -> None:
        assert not asynchronous
        if message.offset() == 0:
            from confluent_kafka import KafkaError, KafkaException  # noqa: PLC0415

            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        self.committed.append(message.offset())

    def close(self) -> None:
        self.closed = True


class _Inbox:
    async def topics(self) -> list[str]:
        return ["payments"]


async def test_the_event_dispatcher_outlives_a_failed_commit():
    """A commit refused (the broker down) is logged; the dispatcher goes on with the next event."""
    from drift_worker.event_dispatcher import EventDispatcher  # noqa: PLC0415

    dispatcher = EventDispatcher("127.0.0.1:1", _Inbox(), None)  # type: ignore[arg-type]
    dispatcher.consumer.close()
    consumer = dispatcher.consumer = _Consumer()  # type: ignore[assignment]
    task = asyncio.create_task(dispatcher.run())
    deadline = asyncio.get_running_loop().time() + 10
    while consumer.committed != [1]:
        assert not task.done(), task
        assert asyncio.get_running_loop().time() < deadline, "the second event never committed"
        await asyncio.sleep(0.05)
    dispatcher.stop()
    await asyncio.wait_for(task, 10)
    assert consumer.closed


async def test_side_effect_attempts_heartbeat_while_they_wait(monkeypatch: pytest.MonkeyPatch):
    # A dead worker's attempt is then retried after the heartbeat timeout, not the node's 300 s.
    monkeypatch.setattr(activities, "HEARTBEAT_EVERY_SECONDS", 0.01)
    beats: list[object] = []
    environment = ActivityEnvironment()
    environment.on_heartbeat = lambda *details: beats.append(details)

    async def slow_call() -> str:
        await asyncio.sleep(0.1)
        return "answer"

    assert await environment.run(activities.heartbeating, slow_call()) == "answer"
    assert len(beats) >= 3
