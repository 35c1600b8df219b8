"""The DriftRun workflow on the real Temporal, HBase and Redis, against a local HTTP server."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from drift.run_contract import QUERY_SNAPSHOT, UPDATE_RESUME, ResumeRequest, RunSnapshot
from drift.stored_definition import StoredDefinition
from drift_operator.run_status import Observed, run_status
from drift_worker.activities import DriftActivities
from drift_worker.context_values import ContextLimits
from drift_worker.egress import EgressPolicy
from drift_worker.main import new_worker
from drift_worker.secret_access import ALLOWED_HOSTS_ANNOTATION, USABLE_LABEL
from drift_worker.workflow import DriftRunWorkflow
from tests.conftest import kubectl

from .worker_harness import Drift, publisher, snapshot_when


def chain(length: int) -> dict:
    nodes = [
        {"name": f"n{i}", "type": "processor", "processor": {"set": {f"k{i}": f"{i} * 2"}}, "next": f"n{i + 1}"}
        for i in range(length)
    ]
    output = f"{{'last': context.k{length - 1}}}"
    nodes.append({"name": f"n{length}", "type": "success", "success": {"output": output}})
    return {"startAt": "n0", "nodes": nodes}


async def test_a_chain_of_pure_nodes_succeeds_and_persists_its_context(drift):
    workflow = await drift.publish_workflow("chain", chain(10))
    handle = await drift.start(workflow)
    result = await handle.result()
    assert (result.phase, result.output, result.nodes_completed) == ("Succeeded", {"last": 18}, 11)
    assert [n.name for n in result.nodes] == [f"n{i}" for i in range(11)]
    context = json.loads(await drift.store.get_context(handle.id))
    assert context["k9"] == 18
    assert context["_output"] == {"last": 18}
    history = [event async for event in handle.fetch_history_events()]
    assert not any(e.HasField("activity_task_scheduled_event_attributes") for e in history), "pure nodes need no task"


async def test_branch_script_and_templates(drift):
    spec = {
        "startAt": "score",
        "inputSchema": {"type": "object", "required": ["amount"]},
        "nodes": [
            {"name": "score", "type": "script", "script": {"expression": "input.amount * 2"}, "next": "route",
             "output": {"key": "doubled"}},
            {"name": "route", "type": "branch", "choices": [{"when": "context.doubled > 100", "next": "big"}],
             "default": "small"},
            {"name": "big", "type": "success", "success": {"message": "big {{ context.doubled }}",
                                                           "output": "context.doubled"}},
            {"name": "small", "type": "failure",
             "failure": {"code": "TOO_SMALL", "message": "only {{ context.doubled }}"}},
        ],
    }  # fmt: skip
    big = await drift.run(spec, {"amount": 60})
    assert (big.phase, big.output, big.message) == ("Succeeded", 120, "big 120")
    small = await drift.run(spec, {"amount": 10})
    assert small.phase == "Failed"
    assert (small.error.code, small.error.message, small.error.node) == ("TOO_SMALL", "only 20", "small")


async def test_http_node_renders_templates_and_maps_output(drift, server):
    node = await drift.publish_node("fetch-order", {
        "type": "http",
        "http": {"url": server.url + "/orders/{{ input.orderId }}", "query": {"q": "{{ input.orderId }}-q"},
                 "headers": {"X-Order": "{{ input.orderId }}"}},
        "output": {"key": "order", "expression": "result.body"},
    })  # fmt: skip
    body = {"amount": "{{ context.order.amount }}", "note": "id {{ input.orderId }}"}
    post = {"name": "post", "type": "http", "http": {"method": "POST", "url": server.url + "/echo", "body": body},
            "next": "done"}  # fmt: skip
    spec = {"startAt": "fetch", "nodes": [
        {"name": "fetch", "ref": {"name": "fetch-order"}, "next": "post"}, post,
        {"name": "done", "type": "success", "success": {"output": "{'order': context.order, 'posted': context.post}"}},
    ]}  # fmt: skip
    workflow = await drift.publish_workflow("http-flow", spec, {"fetch": node.version})
    result = await (await drift.start(workflow, {"orderId": "A-1"})).result()
    assert result.phase == "Succeeded", result
    assert result.output["order"] == {"id": "A-1", "amount": 120, "q": "A-1-q"}
    assert result.output["posted"]["status"] == 201
    assert result.output["posted"]["body"] == {"got": {"amount": 120, "note": "id A-1"}}
    assert server.seen_headers[0]["X-Order"] == "A-1"


def _http_flow(url: str, **node: object) -> dict:
    return {
        "startAt": "call",
        "onFailure": "handler",
        "nodes": [
            {"name": "call", "type": "http", "http": {"url": url}, "next": "done",
             "retry": {"initialIntervalSeconds": 0.1, "maximumIntervalSeconds": 0.2}, **node},
            {"name": "done", "type": "success", "success": {"output": "context.call.body"}},
            {"name": "handler", "type": "failure",
             "failure": {"code": "CALL_FAILED", "message": "{{ error.code }}: {{ error.message }}"}},
        ],
    }  # fmt: skip


async def test_5xx_and_429_are_retried_until_success(drift, server):
    result = await drift.run(_http_flow(server.url + "/flaky?fail=2"))
    assert (result.phase, result.output) == ("Succeeded", {"ok": True})
    assert server.calls["flaky"] == 3
    assert result.nodes[0].attempts == 3
    server.calls.clear()
    result = await drift.run(_http_flow(server.url + "/flaky?fail=1&status=429"))
    assert (result.phase, server.calls["flaky"]) == ("Succeeded", 2)


async def test_a_4xx_is_not_retried_and_reaches_the_failure_node(drift, server):
    result = await drift.run(_http_flow(server.url + "/status/404"))
    assert server.calls["status404"] == 1
    assert result.phase == "Failed"
    assert result.error.code == "CALL_FAILED"
    assert result.error.node == "call"
    assert result.error.message.startswith("HTTP_404: GET /status/404 answered 404")
    assert result.nodes[0].phase == "Failed"


async def test_retries_run_out_then_on_error_wins_over_on_failure(drift, server):
    spec = _http_flow(server.url + "/status/503", onError="own-handler")
    spec["nodes"].append(
        {"name": "own-handler", "type": "failure", "failure": {"code": "OWN", "message": "{{ error.code }}"}}
    )
    result = await drift.run(spec)
    assert server.calls["status503"] == 3  # the default policy: 3 attempts
    assert (result.error.code, result.error.message) == ("OWN", "HTTP_503")


async def test_without_handlers_a_failing_node_fails_the_run(drift, server):
    spec = _http_flow(server.url + "/status/400")
    spec.pop("onFailure")
    spec["nodes"].pop()
    result = await drift.run(spec)
    assert (result.phase, result.error.code, result.error.node) == ("Failed", "HTTP_400", "call")


@pytest.mark.parametrize(
    ("url", "code"),
    [("http://169.254.169.254/latest/meta-data", "EGRESS_DENIED"), ("ftp://example/x", "INVALID_URL")],
)
async def test_egress_policy_refuses_metadata_addresses(drift, url, code):
    spec = _http_flow(url)
    spec.pop("onFailure")
    result = await drift.run(spec)
    assert (result.phase, result.error.code) == ("Failed", code)
    assert result.nodes[0].attempts == 1


async def test_oversized_responses_fail_the_node(drift, server):
    spec = _http_flow(server.url + "/big")
    spec.pop("onFailure")
    result = await drift.run(spec)
    assert (result.error.code, server.calls["big"]) == ("RESPONSE_TOO_LARGE", 1)


async def test_secret_headers_are_read_at_execution_time_and_never_stored(drift, server, crds_installed):
    namespace = f"wsec-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    kubectl("create", "secret", "generic", "orders-token", "-n", namespace, "--from-literal=token=Bearer s3cr3t")
    kubectl("label", "secret", "orders-token", "-n", namespace, f"{USABLE_LABEL}=true")
    scoped = Drift(drift.client, drift.cache, drift.store, drift.task_queue, namespace=namespace)
    spec = _http_flow(server.url + "/orders/7", http={"url": server.url + "/orders/7", "headersFrom": [
        {"name": "Authorization", "secretKeyRef": {"name": "orders-token", "key": "token"}}]})  # fmt: skip
    handle = await scoped.start(await scoped.publish_workflow("secret", spec))
    result = await handle.result()
    assert result.phase == "Succeeded"
    assert server.seen_headers[-1]["Authorization"] == "Bearer s3cr3t"
    history = [event async for event in handle.fetch_history_events()]
    assert "s3cr3t" not in str(history)
    assert b"s3cr3t" not in (await drift.store.get_context(handle.id))
    missing = dict(spec)
    absent = [{"name": "Authorization", "secretKeyRef": {"name": "absent", "key": "token"}}]
    missing["nodes"] = [dict(spec["nodes"][0], http={"url": server.url + "/orders/7", "headersFrom": absent}),
                        *spec["nodes"][1:]]  # fmt: skip
    result = await scoped.run(missing, name="secret-missing")
    assert result.error.message.startswith("SECRET_NOT_FOUND")


async def test_secrets_not_opted_in_or_bound_elsewhere_are_refused_before_any_request(drift, server, crds_installed):
    namespace = f"wsec-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    for name in ("unlabelled", "elsewhere", "here"):
        kubectl("create", "secret", "generic", name, "-n", namespace, "--from-literal=token=Bearer s3cr3t")
    for name in ("elsewhere", "here"):
        kubectl("label", "secret", name, "-n", namespace, f"{USABLE_LABEL}=true")
    kubectl("annotate", "secret", "elsewhere", "-n", namespace, f"{ALLOWED_HOSTS_ANNOTATION}=api.example.com")
    kubectl("annotate", "secret", "here", "-n", namespace, f"{ALLOWED_HOSTS_ANNOTATION}=*.example.com, 127.0.0.1")
    scoped = Drift(drift.client, drift.cache, drift.store, drift.task_queue, namespace=namespace)

    async def run_with(secret: str):
        headers = [{"name": "Authorization", "secretKeyRef": {"name": secret, "key": "token"}}]
        spec = _http_flow(server.url + "/orders/9", http={"url": server.url + "/orders/9", "headersFrom": headers})
        spec.pop("onFailure")
        return await scoped.run(spec, name=f"secret-{secret}")

    requests_before = len(server.seen_headers)
    unlabelled, elsewhere = await run_with("unlabelled"), await run_with("elsewhere")
    assert (unlabelled.phase, unlabelled.error.code) == ("Failed", "SECRET_NOT_ALLOWED")
    assert f'needs the label {USABLE_LABEL}="true"' in unlabelled.error.message
    assert (elsewhere.phase, elsewhere.error.code) == ("Failed", "SECRET_NOT_ALLOWED")
    assert "may be sent only to api.example.com" in elsewhere.error.message
    assert unlabelled.nodes[0].attempts == elsewhere.nodes[0].attempts == 1
    assert len(server.seen_headers) == requests_before, "a refused Secret is refused before any request is sent"
    allowed = await run_with("here")
    assert allowed.phase == "Succeeded"
    assert server.seen_headers[-1]["Authorization"] == "Bearer s3cr3t"


def _approval(**instruction: object) -> dict:
    return {
        "startAt": "ask",
        "nodes": [
            {"name": "ask", "type": "instruction", "next": "decide",
             "instruction": {"message": "Refund {{ input.amount }}?", "options": ["approve", "reject"],
                             "inputSchema": {"type": "object", "properties": {"note": {"type": "string"}}},
                             **instruction}},
            {"name": "decide", "type": "branch", "default": "no",
             "choices": [{"when": "context.ask.choice == 'approve'", "next": "yes"}]},
            {"name": "yes", "type": "success", "success": {"output": "context.ask"}},
            {"name": "no", "type": "failure", "failure": {"code": "REJECTED"}},
            {"name": "late", "type": "success"},
        ],
    }  # fmt: skip


async def test_instruction_waits_refuses_bad_input_and_accepts_good(drift):
    spec = _approval()
    spec["nodes"][-1] = {"name": "late", "type": "success"}
    spec["nodes"][0]["instruction"]["onTimeout"] = "late"
    handle = await drift.start(await drift.publish_workflow("approval", spec), {"amount": 120})
    waiting = await snapshot_when(handle, lambda s: s.phase == "Waiting")
    assert waiting.waiting_for.node == "ask"
    assert (waiting.waiting_for.message, waiting.waiting_for.options) == ("Refund 120?", ["approve", "reject"])
    for index, node, answer, problem in [
        (0, "ask", {"choice": "maybe"}, "input.choice must be one of approve, reject"),
        (1, "ask", {"choice": "approve", "note": 5}, "input.note: 5 is not of type 'string'"),
        (2, "decide", {"choice": "approve"}, '"decide" is not an instruction node'),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                UPDATE_RESUME, ResumeRequest(index=index, node=node, input=answer), id=f"resume-{index}"
            )
        assert problem in str(refused.value.cause)
    await handle.execute_update(
        UPDATE_RESUME, ResumeRequest(index=3, node="ask", input={"choice": "approve", "note": "ok"}), id="resume-3"
    )
    result = await handle.result()
    assert (result.phase, result.output) == ("Succeeded", {"choice": "approve", "note": "ok"})


async def test_an_instruction_times_out_to_its_on_timeout_node(drift):
    spec = _approval(timeoutSeconds=1, onTimeout="late")
    result = await drift.run(spec, {"amount": 1})
    assert (result.phase, result.current_node) == ("Succeeded", "late")


async def test_a_wait_node_is_a_durable_timer(drift):
    spec = {"startAt": "pause", "nodes": [
        {"name": "pause", "type": "wait", "wait": {"seconds": 1}, "next": "until"},
        {"name": "until", "type": "wait", "wait": {"until": "'2000-01-01T00:00:00Z'"}, "next": "done"},
        {"name": "done", "type": "success"},
    ]}  # fmt: skip
    handle = await drift.start(await drift.publish_workflow("waits", spec))
    result = await handle.result()
    assert result.phase == "Succeeded"
    assert (result.finished_at - result.started_at).total_seconds() >= 1
    history = [event async for event in handle.fetch_history_events()]
    assert any(event.HasField("timer_started_event_attributes") for event in history)


async def test_expression_errors_fail_without_retry(drift):
    spec = {"startAt": "bad", "nodes": [
        {"name": "bad", "type": "script", "script": {"expression": "context.missing.field"}, "next": "done"},
        {"name": "done", "type": "success"},
    ]}  # fmt: skip
    result = await drift.run(spec)
    assert (result.phase, result.error.code) == ("Failed", "EXPRESSION_ERROR")
    assert "script.expression: evaluation failed: no such key: missing" in result.error.message


async def test_cancel_ends_the_run_cancelled_with_its_context_kept(drift):
    handle = await drift.start(await drift.publish_workflow("cancel-me", _approval()), {"amount": 5})
    await snapshot_when(handle, lambda s: s.phase == "Waiting")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert (await handle.describe()).status.name == "CANCELED"
    final = await handle.query(QUERY_SNAPSHOT, result_type=RunSnapshot)
    assert final.phase == "Cancelled"
    assert await drift.store.get_context(handle.id) is not None


async def test_the_pinned_version_survives_concurrent_edits(drift, server):
    first = await drift.publish_node("greeting", {"type": "script", "script": {"expression": "'v1'"}})
    spec = {"startAt": "ask", "nodes": [
        {"name": "ask", "type": "instruction", "instruction": {"message": "go?"}, "next": "greet"},
        {"name": "greet", "ref": {"name": "greeting"}, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "context.greet"}},
    ]}  # fmt: skip
    pinned = await drift.publish_workflow("pinned", spec, {"greet": first.version})
    handle = await drift.start(pinned)
    await snapshot_when(handle, lambda s: s.phase == "Waiting")
    edited = await drift.publish_node("greeting", {"type": "script", "script": {"expression": "'v2'"}})
    await drift.publish_workflow("pinned", spec, {"greet": edited.version})
    await handle.execute_update(UPDATE_RESUME, ResumeRequest(index=0, node="ask", input={}), id="resume-0")
    assert (await handle.result()).output == "v1"


@pytest.mark.timeout(900)  # 10,000 nodes: about 45 s alone, several minutes on a loaded 2-core machine
async def test_a_long_loop_continues_as_new_and_finishes(drift):
    iterations = 2_500  # 5001 nodes: five continue-as-new (at 1000 nodes each), in a fifth of the time
    spec = {"startAt": "count", "nodes": [
        {"name": "count", "type": "processor", "processor": {"set": {"n": "has(context.n) ? context.n + 1 : 1"}},
         "next": "again"},
        {"name": "again", "type": "branch", "choices": [{"when": f"context.n < {iterations}", "next": "count"}],
         "default": "done"},
        {"name": "done", "type": "success", "success": {"output": "context.n"}},
    ]}  # fmt: skip
    handle = await drift.start(await drift.publish_workflow("loop", spec))
    result = await handle.result()
    assert (result.phase, result.output, result.nodes_completed) == ("Succeeded", iterations, 2 * iterations + 1)
    assert len(result.nodes) == 50
    runs = [run async for run in drift.client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) >= 3, "the run should have continued as new at least twice"


async def test_recorded_histories_replay_deterministically(drift, server):
    spec = _approval()
    spec["nodes"].insert(0, {"name": "fetch", "type": "http", "http": {"url": server.url + "/orders/1"}, "next": "ask"})
    spec["startAt"] = "fetch"
    handle = await drift.start(await drift.publish_workflow("replayed", spec), {"amount": 3})
    await snapshot_when(handle, lambda s: s.phase == "Waiting")
    await handle.execute_update(UPDATE_RESUME, ResumeRequest(index=0, node="ask", input={"choice": "reject"}), id="r0")
    assert (await handle.result()).error.code == "REJECTED"
    replayer = Replayer(workflows=[DriftRunWorkflow], data_converter=pydantic_data_converter)
    replayed = await replayer.replay_workflow(await handle.fetch_history())
    assert replayed.replay_failure is None


async def test_a_large_output_is_replaced_by_a_reference_in_the_snapshot(drift):
    spec = {"startAt": "big", "nodes": [
        {"name": "big", "type": "script", "script": {"expression": "'x'.size() > 0"}, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "{'blob': input.blob}"}},
    ]}  # fmt: skip
    handle = await drift.start(await drift.publish_workflow("big-output", spec), {"blob": "y" * 20_000})
    result = await handle.result()
    assert result.output["$ref"] == f"WorkflowContextHB/{handle.id}#_output"
    assert result.output["bytes"] > 20_000
    stored = json.loads(await drift.store.get_context(handle.id))
    assert stored["_output"] == {"blob": "y" * 20_000}


async def test_two_nodes_of_one_definition_run_their_own_pinned_versions(drift):
    first = await drift.publish_node("answer", {"type": "script", "script": {"expression": "'v1'"}})
    second = await drift.publish_node("answer", {"type": "script", "script": {"expression": "'v2'"}})
    spec = {"startAt": "pinned", "nodes": [
        {"name": "pinned", "ref": {"name": "answer", "version": first.version}, "next": "latest"},
        {"name": "latest", "ref": {"name": "answer"}, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "[context.pinned, context.latest]"}},
    ]}  # fmt: skip
    workflow = await drift.publish_workflow("two-pins", spec, {"pinned": first.version, "latest": second.version})
    assert (await (await drift.start(workflow)).result()).output == ["v1", "v2"]
    legacy = StoredDefinition.model_validate(
        {"kind": "workflow", "namespace": drift.namespace, "name": "legacy", "version": "0123456789ab", "spec": spec,
         "nodeVersions": {"answer": first.version}}
    )  # fmt: skip
    await drift.cache.publish(legacy)
    assert (await (await drift.start(legacy)).result()).output == ["v1", "v1"], "versions stored before node pins"


def _asked_twice(loop: int) -> dict:
    """`ask` answered twice; between the two, `loop` iterations of a two-node loop (1000 nodes continue as new)."""
    return {"startAt": "ask", "nodes": [
        {"name": "ask", "type": "instruction", "instruction": {"message": "go?"}, "next": "tally"},
        {"name": "tally", "type": "processor", "next": "count",
         "processor": {"set": {"asked": "has(context.asked) ? context.asked + 1 : 1"}}},
        {"name": "count", "type": "processor", "processor": {"set": {"n": "has(context.n) ? context.n + 1 : 1"}},
         "next": "again"},
        {"name": "again", "type": "branch", "default": "done", "choices": [
            {"when": f"context.n < {loop} * context.asked", "next": "count"},
            {"when": "context.asked < 2", "next": "ask"}]},
        {"name": "done", "type": "success", "success": {"output": "{'asked': context.asked, 'last': context.ask}"}},
    ]}  # fmt: skip


async def test_a_resume_redelivered_after_continue_as_new_is_not_applied_twice(drift):
    handle = await drift.start(await drift.publish_workflow("asked-twice", _asked_twice(600)))
    first_run = (await handle.describe()).run_id
    await snapshot_when(handle, lambda s: s.phase == "Waiting")
    resume = ResumeRequest(index=0, node="ask", input={"answer": "first"})
    assert await handle.execute_update(UPDATE_RESUME, resume, id="resume-0") == "accepted"
    async with asyncio.timeout(60):  # 1200 nodes later, the run has continued as new and waits again
        while True:
            if (await handle.describe()).run_id != first_run:
                break
            await asyncio.sleep(0.2)
    waiting = await snapshot_when(handle, lambda s: s.phase == "Waiting")
    # The operator restarted before it counted resume-0 as delivered: it delivers it again, same update id.
    assert await handle.execute_update(UPDATE_RESUME, resume, id="resume-0") == "accepted"
    await asyncio.sleep(1)
    again = await handle.query(QUERY_SNAPSHOT, result_type=RunSnapshot)
    assert (again.phase, again.nodes_completed) == ("Waiting", waiting.nodes_completed), "resume-0 applied twice"
    second = ResumeRequest(index=1, node="ask", input={"answer": "second"})
    await handle.execute_update(UPDATE_RESUME, second, id="resume-1")
    assert (await handle.result()).output == {"asked": 2, "last": {"answer": "second"}}


def _three_megabytes(url: str, loop: int) -> dict:
    """Three http nodes of 1 MB each, `loop` iterations of a two-node loop, then an output reading all three."""
    fetch = [{"name": name, "type": "http", "http": {"url": url + "/sized/1000000"}, "next": after,
              "output": {"expression": "result.body"}}
             for name, after in (("first", "second"), ("second", "third"), ("third", "count"))]  # fmt: skip
    return {"startAt": "first", "nodes": [
        *fetch,
        {"name": "count", "type": "processor", "processor": {"set": {"n": "has(context.n) ? context.n + 1 : 1"}},
         "next": "again"},
        {"name": "again", "type": "branch", "choices": [{"when": f"context.n < {loop}", "next": "count"}],
         "default": "done"},
        {"name": "done", "type": "success",
         "success": {"output": "[size(context.first), size(context['second']), size(context.third)]"}},
    ]}  # fmt: skip


async def test_large_values_live_in_hbase_and_are_read_after_continue_as_new(drift, server):
    short = await drift.run(_three_megabytes(server.url, 1), name="three-mb-short")
    assert (short.phase, short.output) == ("Succeeded", [1_000_000] * 3), short
    status = run_status(Observed(snapshot=short, started=True, closed="COMPLETED"), {}, 1, datetime.now(UTC))
    assert len(json.dumps(status, separators=(",", ":"))) < 8 * 1024, "the WorkflowRun's status"
    handle = await drift.start(await drift.publish_workflow("three-mb", _three_megabytes(server.url, 600)))
    result = await handle.result()
    assert (result.phase, result.output) == ("Succeeded", [1_000_000] * 3), result
    runs = [run async for run in drift.client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) >= 2, "the run should have continued as new"
    stored = await drift.store.get_context(handle.id)
    assert len(stored) < 8 * 1024
    placeholder = json.loads(stored)["first"]
    assert placeholder["$ref"].startswith(f"WorkflowContextHB/{handle.id}#value/first/")
    assert placeholder["bytes"] == 1_000_002
    column = placeholder["$ref"].partition("#")[2]
    assert json.loads(await drift.store.get_context_value(handle.id, column)) == "x" * 1_000_000


async def test_a_context_over_its_limit_fails_the_run_with_context_too_large(drift, server, stack_env):
    limits = ContextLimits(max_bytes=2_500_000)
    activities = DriftActivities(drift.cache, drift.store, publisher(drift.store), None, EgressPolicy(), limits=limits)
    limited = Drift(drift.client, drift.cache, drift.store, f"limited-{uuid.uuid4()}")
    async with new_worker(drift.client, limited.task_queue, activities):
        result = await limited.run(_three_megabytes(server.url, 1), name="too-large")
    await activities.close()
    assert (result.phase, result.error.code, result.error.node) == ("Failed", "ContextTooLarge", "third")
    assert "over the run's limit of 2500000 bytes" in result.error.message
