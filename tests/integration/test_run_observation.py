"""A run read from less than `observe` reads (a describe, then a result or query) reads the same: its close from
its close event (`await_close`), a listed execution (`runs --trigger`) from the listing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.worker import Worker

from drift.run_observation import Execution, await_close, observe
from drift_cli import trigger_runs

from .greeting_workflow import RefusingWorkflow
from .worker_harness import snapshot_when

ASKS = {"startAt": "ask", "nodes": [
    {"name": "ask", "type": "instruction", "instruction": {"message": "go?"}, "next": "done"},
    {"name": "done", "type": "success"},
]}  # fmt: skip
FAILS = {"startAt": "bad", "nodes": [
    {"name": "bad", "type": "script", "script": {"expression": "context.missing"}, "next": "done"},
    {"name": "done", "type": "success"},
]}  # fmt: skip
SUCCEEDS = {"startAt": "done", "nodes": [{"name": "done", "type": "success", "success": {"output": "{'ok': true}"}}]}


async def _closes_alike(client, workflow_id: str) -> Execution:
    closed = await await_close(client, workflow_id, 30)
    assert closed == await observe(client, workflow_id, query=False)
    return closed


async def test_each_close_reads_as_observe_reads_it(drift):
    succeeded = await drift.start(await drift.publish_workflow("succeeds", SUCCEEDS))
    failure_node = await drift.start(await drift.publish_workflow("fails", FAILS))
    asks = await drift.publish_workflow("asks", ASKS)
    cancelled, terminated = await drift.start(asks), await drift.start(asks)
    timed_out = await drift.start(asks, execution_timeout=timedelta(seconds=1))
    await cancelled.cancel()
    await terminated.terminate(reason="stopped on Temporal")
    task_queue = f"refusing-{uuid.uuid4()}"
    async with Worker(drift.client, task_queue=task_queue, workflows=[RefusingWorkflow]):
        refused = await drift.client.start_workflow(
            RefusingWorkflow.run, "card declined", id=f"refused-{uuid.uuid4()}", task_queue=task_queue
        )
        failed = await _closes_alike(drift.client, refused.id)
    assert (failed.closed, failed.detail, failed.snapshot) == ("FAILED", "Refused: card declined", None)

    done = await _closes_alike(drift.client, succeeded.id)
    assert (done.closed, done.snapshot.phase, done.snapshot.output) == ("COMPLETED", "Succeeded", {"ok": True})
    ended = await _closes_alike(drift.client, failure_node.id)
    assert (ended.closed, ended.snapshot.phase) == ("COMPLETED", "Failed")
    assert ended.snapshot.error.code == "EXPRESSION_ERROR"
    for handle, status in ((cancelled, "CANCELED"), (terminated, "TERMINATED"), (timed_out, "TIMED_OUT")):
        assert (await _closes_alike(drift.client, handle.id)).closed == status


async def test_an_open_execution_has_no_close_within_the_wait(drift):
    asking = await drift.start(await drift.publish_workflow("asks", ASKS))
    assert await await_close(drift.client, asking.id, 0.5) is None
    await asking.terminate()


async def test_a_listed_execution_reads_as_observe_reads_it(drift):
    asks = await drift.publish_workflow("asks", ASKS)
    handles = [await drift.start(await drift.publish_workflow("succeeds", SUCCEEDS)), await drift.start(asks)]
    terminated = await drift.start(asks)
    await terminated.terminate()
    await handles[0].result()
    await snapshot_when(handles[1], lambda snapshot: snapshot.phase == "Waiting")
    ids = " OR ".join(f"WorkflowId = '{handle.id}'" for handle in [*handles, terminated])
    listed = {execution.id: execution async for execution in drift.client.list_workflows(ids)}
    for handle in [*handles, terminated]:
        assert await trigger_runs._observed(drift.client, listed[handle.id]) == await observe(
            drift.client, handle.id, query=True
        )
    await handles[1].terminate()
