"""Record golden histories of `DriftRun` on the running test stack: `python -m tests.replay.record`.

Each scenario runs one WorkflowRun on an in-process worker (private task queue and table prefix) and
writes the history of every Temporal run of it to `histories/{scenario}.json` (`-2`, `-3`, ... for the runs
after a continue-as-new). A golden that exists is never rewritten: goldens are what runs in flight may
replay, so they are recorded once, by the code that made them. Record a new scenario for new behaviour.

    make test-up && set -a && . .dev/test/env && set +a
    .venv/bin/python -m tests.replay.record            # the scenarios without a golden yet
    .venv/bin/python -m tests.replay.record --list     # scenario names
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import WorkflowHandle

from drift.cache.definition_cache import DefinitionCache
from drift.run_contract import QUERY_SNAPSHOT, UPDATE_RESUME, ResumeRequest, RunSnapshot
from drift.settings import hbase_settings, redis_url, temporal_settings
from drift.temporal_client import connect
from drift_worker.activities import DriftActivities
from drift_worker.egress import EgressPolicy
from drift_worker.main import new_worker
from tests.integration.worker_harness import Drift, EchoServer, private_store, publisher, start_echo_server

HISTORIES = Path(__file__).parent / "histories"
Scenario = Callable[[Drift, EchoServer], Awaitable[WorkflowHandle]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(function: Scenario) -> Scenario:
    """Register a scenario under its function name (dashes for underscores)."""
    SCENARIOS[function.__name__.replace("_", "-")] = function
    return function


async def _started(drift: Drift, name: str, spec: dict, run_input: dict | None = None) -> WorkflowHandle:
    handle = await drift.start(await drift.publish_workflow(name, spec), run_input)
    await handle.result()
    return handle


async def _waiting(handle: WorkflowHandle) -> None:
    async with asyncio.timeout(30):
        while True:
            if (await handle.query(QUERY_SNAPSHOT, result_type=RunSnapshot)).phase == "Waiting":
                return
            await asyncio.sleep(0.05)


async def _answered(drift: Drift, name: str, spec: dict, run_input: dict | None, answer: dict) -> WorkflowHandle:
    """Run `spec` until it waits at its instruction node `ask`, answer it, and wait for the end."""
    handle = await drift.start(await drift.publish_workflow(name, spec), run_input)
    await _waiting(handle)
    await _resume(handle, 0, "ask", answer)
    await handle.result()
    return handle


async def _resume(handle: WorkflowHandle, index: int, node: str, answer: dict) -> None:
    request = ResumeRequest(index=index, node=node, input=answer)
    await handle.execute_update(UPDATE_RESUME, request, id=f"resume-{index}")


@scenario
async def http(drift: Drift, server: EchoServer) -> WorkflowHandle:
    node = await drift.publish_node("fetch-order", {
        "type": "http", "http": {"url": server.url + "/orders/{{ input.orderId }}", "query": {"q": "x"}},
        "output": {"key": "order", "expression": "result.body"},
    })  # fmt: skip
    spec = {"startAt": "fetch", "nodes": [
        {"name": "fetch", "ref": {"name": "fetch-order"}, "next": "post"},
        {"name": "post", "type": "http", "next": "done",
         "http": {"method": "POST", "url": server.url + "/echo", "body": {"amount": "{{ context.order.amount }}"}}},
        {"name": "done", "type": "success", "success": {"output": "context.post.body"}},
    ]}  # fmt: skip
    workflow = await drift.publish_workflow("http", spec, {"fetch": node.version})
    handle = await drift.start(workflow, {"orderId": "A-1"})
    await handle.result()
    return handle


@scenario
async def script(drift: Drift, _: EchoServer) -> WorkflowHandle:
    spec = {"startAt": "double", "nodes": [
        {"name": "double", "type": "script", "script": {"expression": "input.amount * 2"}, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "context.double"}},
    ]}  # fmt: skip
    return await _started(drift, "script", spec, {"amount": 21})


@scenario
async def branch(drift: Drift, _: EchoServer) -> WorkflowHandle:
    spec = {"startAt": "route", "nodes": [
        {"name": "route", "type": "branch", "default": "small",
         "choices": [{"when": "input.amount > 100", "next": "big"}]},
        {"name": "big", "type": "success", "success": {"message": "big"}},
        {"name": "small", "type": "success", "success": {"message": "small"}},
    ]}  # fmt: skip
    return await _started(drift, "branch", spec, {"amount": 120})


@scenario
async def processor(drift: Drift, _: EchoServer) -> WorkflowHandle:
    spec = {"startAt": "set", "nodes": [
        {"name": "set", "type": "processor", "next": "done",
         "processor": {"set": {"total": "input.a + input.b", "label": "'sum ' + string(input.a + input.b)"}}},
        {"name": "done", "type": "success", "success": {"output": "{'total': context.total, 'label': context.label}"}},
    ]}  # fmt: skip
    return await _started(drift, "processor", spec, {"a": 1, "b": 2})


@scenario
async def wait(drift: Drift, _: EchoServer) -> WorkflowHandle:
    spec = {"startAt": "pause", "nodes": [
        {"name": "pause", "type": "wait", "wait": {"seconds": 1}, "next": "until"},
        {"name": "until", "type": "wait", "wait": {"until": "'2000-01-01T00:00:00Z'"}, "next": "done"},
        {"name": "done", "type": "success"},
    ]}  # fmt: skip
    return await _started(drift, "wait", spec)


def _approval(**instruction: object) -> dict:
    return {"startAt": "ask", "nodes": [
        {"name": "ask", "type": "instruction", "next": "decide",
         "instruction": {"message": "Refund {{ input.amount }}?", "options": ["approve", "reject"], **instruction}},
        {"name": "decide", "type": "branch", "default": "rejected",
         "choices": [{"when": "context.ask.choice == 'approve'", "next": "done"}]},
        {"name": "done", "type": "success", "success": {"output": "context.ask"}},
        {"name": "rejected", "type": "failure", "failure": {"code": "REJECTED"}},
        {"name": "late", "type": "success", "success": {"message": "nobody answered"}},
    ]}  # fmt: skip


@scenario
async def instruction(drift: Drift, _: EchoServer) -> WorkflowHandle:
    """An instruction nobody answers: it times out to its onTimeout node."""
    return await _started(drift, "instruction", _approval(timeoutSeconds=1, onTimeout="late"), {"amount": 5})


@scenario
async def waiting_resumed(drift: Drift, _: EchoServer) -> WorkflowHandle:
    """A run that waits for input and is resumed by the `resume` update."""
    return await _answered(drift, "waiting", _approval(), {"amount": 120}, {"choice": "approve"})


@scenario
async def success(drift: Drift, _: EchoServer) -> WorkflowHandle:
    spec = {"startAt": "done", "nodes": [
        {"name": "done", "type": "success", "success": {"message": "hello {{ input.who }}", "output": "input"}},
    ]}  # fmt: skip
    return await _started(drift, "success", spec, {"who": "world"})


@scenario
async def failure(drift: Drift, server: EchoServer) -> WorkflowHandle:
    """A 4xx goes to the workflow's onFailure node, which sees `error`."""
    spec = {"startAt": "call", "onFailure": "failed", "nodes": [
        {"name": "call", "type": "http", "http": {"url": server.url + "/status/404"}, "next": "done"},
        {"name": "done", "type": "success"},
        {"name": "failed", "type": "failure", "failure": {"code": "CALL_FAILED", "message": "{{ error.message }}"}},
    ]}  # fmt: skip
    return await _started(drift, "failure", spec)


@scenario
async def retried(drift: Drift, server: EchoServer) -> WorkflowHandle:
    """An http node answered 503 twice, then 200: retried by Temporal under the node's policy."""
    server.calls.clear()
    spec = {"startAt": "call", "nodes": [
        {"name": "call", "type": "http", "http": {"url": server.url + "/flaky?fail=2"}, "next": "done",
         "retry": {"initialIntervalSeconds": 0.1, "maximumIntervalSeconds": 0.2}},
        {"name": "done", "type": "success", "success": {"output": "context.call.body"}},
    ]}  # fmt: skip
    return await _started(drift, "retried", spec)


@scenario
async def resume_redelivered(drift: Drift, _: EchoServer) -> WorkflowHandle:
    """`ask` is answered twice; resume[0] delivered again (another update id) is answered, not applied."""
    spec = {"startAt": "ask", "nodes": [
        {"name": "ask", "type": "instruction", "instruction": {"message": "go?"}, "next": "tally"},
        {"name": "tally", "type": "processor", "next": "again",
         "processor": {"set": {"asked": "has(context.asked) ? context.asked + 1 : 1"}}},
        {"name": "again", "type": "branch", "default": "done",
         "choices": [{"when": "context.asked < 2", "next": "ask"}]},
        {"name": "done", "type": "success", "success": {"output": "{'asked': context.asked, 'last': context.ask}"}},
    ]}  # fmt: skip
    handle = await drift.start(await drift.publish_workflow("resume-redelivered", spec))
    await _waiting(handle)
    await _resume(handle, 0, "ask", {"answer": "first"})
    async with asyncio.timeout(30):
        while True:
            snapshot = await handle.query(QUERY_SNAPSHOT, result_type=RunSnapshot)
            if snapshot.phase == "Waiting" and snapshot.nodes_completed == 3:
                break
            await asyncio.sleep(0.05)
    again = ResumeRequest(index=0, node="ask", input={"answer": "first"})
    await handle.execute_update(UPDATE_RESUME, again, id="resume-0-redelivered")
    await _resume(handle, 1, "ask", {"answer": "second"})
    await handle.result()
    return handle


@scenario
async def large_context_values(drift: Drift, server: EchoServer) -> WorkflowHandle:
    """Two http results of 100 kB: stored in HBase, referenced from the context, read by the output."""
    spec = {"startAt": "first", "nodes": [
        {"name": "first", "type": "http", "http": {"url": server.url + "/sized/100000"}, "next": "second",
         "output": {"expression": "result.body"}},
        {"name": "second", "type": "http", "http": {"url": server.url + "/sized/100000"}, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "[size(context.first), size(context.second.body)]"}},
    ]}  # fmt: skip
    return await _started(drift, "large-context-values", spec)


def loop(iterations: int) -> list[dict]:
    """Nodes counting `context.n` up to `iterations` (two node executions per iteration), then `after`."""
    return [
        {"name": "count", "type": "processor", "processor": {"set": {"n": "has(context.n) ? context.n + 1 : 1"}},
         "next": "again"},
        {"name": "again", "type": "branch", "choices": [{"when": f"context.n < {iterations}", "next": "count"}],
         "default": "after"},
    ]  # fmt: skip


@scenario
async def continued_as_new(drift: Drift, _: EchoServer) -> WorkflowHandle:
    """1201 node executions: the run continues as new once (after 1000) and finishes in its second run."""
    after = {"name": "after", "type": "success", "success": {"output": "context.n"}}
    spec = {"startAt": "count", "nodes": [*loop(600), after]}
    return await _started(drift, "continued", spec)


@scenario
async def pure_nodes_persisted_together(drift: Drift, server: EchoServer) -> WorkflowHandle:
    """Pure nodes, an http node, pure nodes, a wait for input, the end (patch `pure-nodes-persisted-together`:
    a run of pure nodes is persisted once, by the persist before the next http node, wait or end)."""
    spec = {"startAt": "a", "nodes": [
        {"name": "a", "type": "processor", "processor": {"set": {"n": "1"}}, "next": "b"},
        {"name": "b", "type": "processor", "processor": {"set": {"n": "context.n + 1"}}, "next": "route"},
        {"name": "route", "type": "branch", "choices": [{"when": "context.n == 2", "next": "post"}], "default": "done"},
        {"name": "post", "type": "http", "next": "c",
         "http": {"method": "POST", "url": server.url + "/echo", "body": {"n": "{{ context.n }}"}}},
        {"name": "c", "type": "processor", "processor": {"set": {"m": "context.n * 10"}}, "next": "ask"},
        {"name": "ask", "type": "instruction", "instruction": {"message": "Go on?"}, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "{'n': context.n, 'm': context.m}"}},
    ]}  # fmt: skip
    return await _answered(drift, "pure-together", spec, None, {"answer": "yes"})


@scenario
async def continued_as_new_pure_nodes_together(drift: Drift, _: EchoServer) -> WorkflowHandle:
    """The 1201-node loop under patch `pure-nodes-persisted-together`: a persist every 32 pure nodes."""
    after = {"name": "after", "type": "success", "success": {"output": "context.n"}}
    spec = {"startAt": "count", "nodes": [*loop(600), after]}
    return await _started(drift, "continued-together", spec)


@scenario
async def emit(drift: Drift, server: EchoServer) -> WorkflowHandle:
    """An emit node posting a CloudEvent, answered 503 once: retried with the same event id."""
    spec = {"startAt": "announce", "nodes": [
        {"name": "announce", "type": "emit", "next": "done", "retry": {"maxAttempts": 3, "initialIntervalSeconds": 0.1},
         "emit": {"type": "order.accepted", "subject": "{{ input.id }}", "data": {"id": "{{ input.id }}"},
                  "sink": {"http": {"url": server.url + "/events?fail=1"}}}},
        {"name": "done", "type": "success", "success": {"output": "context.announce"}},
    ]}  # fmt: skip
    return await _started(drift, "emit", spec, {"id": "o-1"})


EVENT_TIMEOUT = {"startAt": "await-payment", "nodes": [
    {"name": "await-payment", "type": "event", "next": "paid",
     "event": {"source": {"kafka": {"topic": "payments"}}, "type": "payment.confirmed",
               "correlation": "event.data.orderId == input.id", "timeoutSeconds": 1, "onTimeout": "late"}},
    {"name": "paid", "type": "success"},
    {"name": "late", "type": "success", "success": {"output": "'no payment'"}},
]}  # fmt: skip


@scenario
async def event_timeout(drift: Drift, _: EchoServer) -> WorkflowHandle:
    """An event node nobody sends an event to: it registers, waits, times out to onTimeout."""
    return await _started(drift, "event-timeout", EVENT_TIMEOUT, {"id": "o-2"})


@scenario
async def event_timeout_topic_keys(drift: Drift, _: EchoServer) -> WorkflowHandle:
    """The same with the wait's key scoped by its topic (patch `event-keys-scoped-by-topic`)."""
    return await _started(drift, "event-timeout-topic-keys", EVENT_TIMEOUT, {"id": "o-3"})


async def record(names: list[str]) -> None:
    """Run the scenarios without a golden and write their histories."""
    store = private_store(hbase_settings())
    await store.ensure_tables()
    cache = DefinitionCache(store, redis_url())
    await cache.start()
    client = await connect(temporal_settings())
    activities = DriftActivities(cache, store, publisher(store), None, EgressPolicy())
    server, runner = await start_echo_server()
    drift = Drift(client, cache, store, f"record-{uuid.uuid4()}")
    try:
        async with new_worker(client, drift.task_queue, activities):
            for name in names:
                handle = await SCENARIOS[name](drift, server)
                runs = [run async for run in client.list_workflows(f"WorkflowId = '{handle.id}'")]
                for number, run in enumerate(sorted(runs, key=lambda run: run.start_time), start=1):
                    history = await client.get_workflow_handle(handle.id, run_id=run.run_id).fetch_history()
                    path = HISTORIES / (f"{name}.json" if number == 1 else f"{name}-{number}.json")
                    path.write_text(history.to_json() + "\n")
                    print(f"recorded {path.relative_to(Path.cwd())} ({path.stat().st_size // 1024} KiB)")
    finally:
        await runner.cleanup()
        await activities.close()
        await cache.close()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the scenarios and whether each has a golden")
    parser.add_argument("names", nargs="*", help="scenarios to record (default: every one without a golden)")
    args = parser.parse_args()
    if args.list:
        for name in SCENARIOS:
            print(name, "recorded" if (HISTORIES / f"{name}.json").exists() else "-")
        return
    missing = [name for name in args.names or SCENARIOS if not (HISTORIES / f"{name}.json").exists()]
    unknown = set(args.names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    asyncio.run(record(missing))


if __name__ == "__main__":
    main()
