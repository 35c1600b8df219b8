"""Each service of the local stack is the real thing: these talk to it as Drift will."""

from __future__ import annotations

import asyncio
import uuid

import happybase
import pytest
import redis.asyncio as aioredis
import yaml
from kubernetes import client, config, watch
from temporalio.client import Client
from temporalio.worker import Worker

from tests.conftest import kubectl, stack_command

from .greeting_workflow import GreetingWorkflow, compose_greeting

GROUP = "stacktest.drift.dev"


@pytest.fixture
def widget_crd(stack_env: dict[str, str]):
    """A throw-away CRD with a unique plural, registered with the API server and removed afterwards."""
    plural = f"widgets{uuid.uuid4().hex[:8]}"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": f"Widget{plural[7:]}"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
                        }
                    },
                }
            ],
        },
    }
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(crd))
    kubectl("wait", "--for=condition=Established", f"crd/{plural}.{GROUP}", "--timeout=30s")
    yield crd
    kubectl("delete", "crd", f"{plural}.{GROUP}", "--wait=false")


def test_custom_resource_created_with_kubectl_is_seen_by_a_python_watch(stack_env, widget_crd):
    names = widget_crd["spec"]["names"]
    config.load_kube_config(config_file=stack_env["KUBECONFIG"])
    api = client.CustomObjectsApi()
    listing = api.list_namespaced_custom_object(GROUP, "v1", "default", names["plural"])
    widget = {
        "apiVersion": f"{GROUP}/v1",
        "kind": names["kind"],
        "metadata": {"name": "first", "namespace": "default"},
        "spec": {"size": 3},
    }
    kubectl("create", "-f", "-", stdin=yaml.safe_dump(widget))

    events = watch.Watch().stream(
        api.list_namespaced_custom_object,
        GROUP,
        "v1",
        "default",
        names["plural"],
        resource_version=listing["metadata"]["resourceVersion"],
        timeout_seconds=10,
    )
    seen = next(event for event in events if event["object"]["metadata"]["name"] == "first")
    assert seen["type"] == "ADDED"
    assert seen["object"]["spec"] == {"size": 3}


async def test_temporal_workflow_runs_an_activity_to_completion(stack_env):
    temporal = await Client.connect(stack_env["DRIFT_TEMPORAL_ADDRESS"], namespace="default")
    task_queue = f"stack-test-{uuid.uuid4()}"
    async with Worker(temporal, task_queue=task_queue, workflows=[GreetingWorkflow], activities=[compose_greeting]):
        handle = await temporal.start_workflow(
            GreetingWorkflow.run, "Drift", id=f"greeting-{uuid.uuid4()}", task_queue=task_queue
        )
        assert await handle.result() == "Hello, Drift!"
    history = [event async for event in handle.fetch_history_events()]
    assert any(event.HasField("activity_task_completed_event_attributes") for event in history)


async def test_redis_pub_sub_round_trip(stack_env):
    redis = aioredis.from_url(stack_env["DRIFT_REDIS_URL"])
    channel = f"stack-test-{uuid.uuid4()}"
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(channel)
        assert await redis.publish(channel, b"invalidate") == 1
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                break
        assert message is not None
        assert message["data"] == b"invalidate"
    await redis.aclose()


def _hbase(stack_env: dict[str, str]) -> happybase.Connection:
    return happybase.Connection(stack_env["DRIFT_HBASE_HOST"], int(stack_env["DRIFT_HBASE_PORT"]))


async def test_hbase_rows_survive_a_restart(stack_env):
    table_name = f"stacktest_{uuid.uuid4().hex[:8]}"
    connection = _hbase(stack_env)
    connection.create_table(table_name, {"d": {"max_versions": 1}})
    table = connection.table(table_name)
    table.put(b"wf/refund_v1", {b"d:body": b'{"startAt": "a"}'})
    table.put(b"wf/refund_v2", {b"d:body": b'{"startAt": "b"}'})
    assert table.row(b"wf/refund_v1") == {b"d:body": b'{"startAt": "a"}'}
    assert [key for key, _ in table.scan(row_prefix=b"wf/refund_")] == [b"wf/refund_v1", b"wf/refund_v2"]
    connection.close()

    await asyncio.to_thread(stack_command, stack_env, "restart", "hbase")

    connection = _hbase(stack_env)
    table = connection.table(table_name)
    assert table.row(b"wf/refund_v2") == {b"d:body": b'{"startAt": "b"}'}
    assert [key for key, _ in table.scan(row_prefix=b"wf/refund_")] == [b"wf/refund_v1", b"wf/refund_v2"]
    connection.delete_table(table_name, disable=True)
    connection.close()
