"""Parallel branches, maps, sub-workflows, compensation and resumes by path, on the real Temporal, HBase, Redis."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from drift.run_contract import UPDATE_RESUME, ResumeRequest

from .worker_harness import replays, snapshot_when


def _set(name: str, next_: str, **values: str) -> dict:
    return {"name": name, "type": "processor", "processor": {"set": values}, "next": next_}


def _end(name: str, output: str | None = None) -> dict:
    return {"name": name, "type": "success", **({"success": {"output": output}} if output else {})}


def _fail(name: str, code: str) -> dict:
    return {"name": name, "type": "failure", "failure": {"code": code, "message": f"{code} in {{{{ input.who }}}}"}}


def _fork(*branches: tuple[str, str], **options: str) -> dict:
    block = {"branches": [{"name": name, "startAt": start} for name, start in branches], **options}
    return {"name": "checks", "type": "parallel", "parallel": block, "next": "done"}


def _wait(name: str, seconds: int, next_: str) -> dict:
    return {"name": name, "type": "wait", "wait": {"seconds": seconds}, "next": next_}


async def test_parallel_all_joins_each_branch_output_by_name(drift):
    spec = {"startAt": "checks", "nodes": [
        _fork(("credit", "score"), ("fraud", "screen")),
        _set("score", "score-ok", score="input.amount * 2"), _end("score-ok", "{'score': context.score}"),
        _set("screen", "screen-ok", flagged="input.amount > 100"), _end("screen-ok"),
        _end("done", "context.checks"),
    ]}  # fmt: skip
    handle = await drift.start(await drift.publish_workflow("fork-all", spec), {"amount": 60})
    result = await handle.result()
    assert result.phase == "Succeeded"
    assert result.output["credit"] == {"score": 120}
    assert result.output["fraud"]["flagged"] is False
    assert "score" not in result.output["fraud"]  # each branch writes its own copy of the context
    await replays(handle)


async def test_a_failing_branch_cancels_the_others_and_names_branch_and_node(drift):
    spec = {"startAt": "checks", "nodes": [
        _fork(("credit", "slow"), ("fraud", "refuse")),
        _wait("slow", 300, "slow-ok"), _end("slow-ok"),
        _fail("refuse", "FRAUD"),
        _end("done"),
    ]}  # fmt: skip
    handle = await drift.start(await drift.publish_workflow("fork-fail", spec), {"who": "bob"})
    result = await handle.result()  # well before the 300 s wait: the fraud branch cancels it
    assert (result.phase, result.error.node, result.error.code) == ("Failed", "checks", "FRAUD")
    assert result.error.path == "checks/fraud/refuse"
    assert result.error.message == "branch fraud failed at node refuse: FRAUD in bob"
    assert (result.finished_at - result.started_at).total_seconds() < 60
    await replays(handle)


async def test_join_any_takes_the_first_success_and_cancels_the_rest(drift):
    spec = {"startAt": "checks", "nodes": [
        _fork(("slow", "slow"), ("fast", "fast"), join="any"),
        _wait("slow", 300, "slow-ok"), _end("slow-ok", "'slow'"),
        _set("fast", "fast-ok", who="'fast'"), _end("fast-ok", "context.who"),
        _end("done", "context.checks"),
    ]}  # fmt: skip
    result = await drift.run(spec, name="fork-any")
    assert (result.phase, result.output) == ("Succeeded", {"fast": "fast"})


async def test_map_keeps_input_order_limits_concurrency_and_tolerates_failures(drift):
    items = list(range(12))
    spec = {"startAt": "each", "nodes": [
        {"name": "each", "type": "map", "next": "done",
         "map": {"items": "input.items", "startAt": "parity", "maxConcurrency": 3, "toleratedFailureCount": 6}},
        {"name": "parity", "type": "branch", "choices": [{"when": "item % 2 == 1", "next": "odd"}],
         "default": "square"},
        _fail("odd", "ODD"),
        _set("square", "squared", sq="item * item + index"), _end("squared", "context.sq"),
        _end("done", "context.each"),
    ]}  # fmt: skip
    result = await drift.run(spec, {"items": items, "who": "x"}, name="map-tolerated")
    assert result.phase == "Succeeded"
    assert [value if isinstance(value, int) else value["error"]["code"] for value in result.output] == [
        i * i + i if i % 2 == 0 else "ODD" for i in items
    ]
    spec["nodes"][0]["map"]["toleratedFailureCount"] = 5
    result = await drift.run(spec, {"items": items, "who": "x"}, name="map-exceeded")
    assert (result.phase, result.error.code) == ("Failed", "MAP_FAILURES_EXCEEDED")
    assert result.error.path.startswith("each[")


async def test_a_map_over_many_items_runs_in_child_batches(drift):
    spec = {"startAt": "each", "nodes": [
        {"name": "each", "type": "map", "next": "done", "map": {"items": "input.items", "startAt": "double",
                                                                "maxConcurrency": 200}},
        _set("double", "doubled", twice="item * 2"), _end("doubled", "context.twice"),
        _end("done", "{'count': size(context.each), 'last': context.each[size(context.each) - 1]}"),
    ]}  # fmt: skip
    handle = await drift.start(await drift.publish_workflow("map-batches", spec), {"items": list(range(2500))})
    result = await handle.result()
    assert (result.phase, result.output) == ("Succeeded", {"count": 2500, "last": 4998})
    assert result.maps == []
    events = [event async for event in handle.fetch_history_events()]
    assert len(events) < 200  # three child workflows, not 2,500 items, in the parent's history


async def test_a_sub_workflow_runs_pinned_with_mapped_input_and_output(drift):
    child = await drift.publish_workflow("collect", {"startAt": "charge", "nodes": [
        _set("charge", "charged", charged="input.amount + 1"), _end("charged", "{'charged': context.charged}"),
    ]})  # fmt: skip
    parent = {"startAt": "pay", "nodes": [
        {"name": "pay", "type": "workflow", "next": "done", "output": {"expression": "result.charged"},
         "workflow": {"ref": {"name": "collect"}, "input": {"amount": "{{ input.total }}"}}},
        _end("done", "context.pay"),
    ]}  # fmt: skip
    handle = await drift.start(
        await drift.publish_workflow("parent", parent, children={"pay": child.version}), {"total": 41}
    )
    assert (await handle.result()).output == 42
    await replays(handle)
    declined = {"name": "no", "type": "failure", "failure": {"code": "DECLINED"}}
    failing = await drift.publish_workflow("collect", {"startAt": "no", "nodes": [declined]})
    handle = await drift.start(await drift.publish_workflow("parent", parent, children={"pay": failing.version}),
                               {"total": 1, "who": "x"})  # fmt: skip
    result = await handle.result()
    assert (result.phase, result.error.code) == ("Failed", "CHILD_FAILED")
    assert "DECLINED" in result.error.message


async def test_compensations_run_in_reverse_order_after_a_late_failure(drift, server):
    def undo(name: str, next_: str) -> dict:
        body = {"undo": "{{ compensating.node }}", "result": "{{ compensating.result }}", "why": "{{ error.code }}"}
        return {"name": name, "type": "http", "http": {"method": "POST", "url": server.url + "/echo", "body": body},
                "next": next_}  # fmt: skip

    spec = {"startAt": "reserve", "onFailure": "failed", "nodes": [
        {**_set("reserve", "charge", reserved="'seat-1'"), "compensate": "release"},
        {**_set("charge", "ship", charged="input.amount"), "compensate": "refund"},
        _fail("ship", "NO_TRUCK"),
        undo("release", "released"), _end("released"),
        undo("refund", "refunded"), _end("refunded"),
        {"name": "failed", "type": "failure", "failure": {"code": "ORDER_FAILED", "message": "{{ error.code }}"}},
    ]}  # fmt: skip
    result = await drift.run(spec, {"amount": 30, "who": "x"}, name="compensated")
    assert (result.phase, result.error.code) == ("Failed", "NO_TRUCK")
    assert [(c.node, c.undoes, c.phase) for c in result.compensations] == [
        ("refund", "charge", "Succeeded"),
        ("release", "reserve", "Succeeded"),
    ]
    assert server.calls["echo"] == 2


async def test_resume_into_a_branch_and_into_one_map_item_by_path(drift):
    ask = {"name": "ask", "type": "instruction", "next": "answered",
           "instruction": {"message": "ok {{ index }}?", "options": ["yes", "no"]}}  # fmt: skip
    spec = {"startAt": "checks", "nodes": [
        {**_fork(("manual", "approve"), ("batch", "each")), "next": "done"},
        {"name": "approve", "type": "instruction", "next": "approved", "instruction": {"message": "approve?"}},
        _end("approved", "context.approve"),
        {"name": "each", "type": "map", "next": "mapped", "map": {"items": "[10, 20, 30]", "startAt": "ask"}},
        ask, _end("answered", "context.ask.choice"),
        _end("mapped", "context.each"),
        _end("done", "context.checks"),
    ]}  # fmt: skip
    handle = await drift.start(await drift.publish_workflow("resumes", spec))
    waiting = await snapshot_when(handle, lambda s: len(s.waiting) == 4)
    assert waiting.phase == "Waiting"
    assert sorted(w.path for w in waiting.waiting) == ["checks/batch/each[0]", "checks/batch/each[1]",
                                                       "checks/batch/each[2]", "checks/manual"]  # fmt: skip
    assert waiting.current_node == "checks: 2 branches"

    async def resume(index: int, node: str, path: str | None, choice: str | None = None) -> None:
        request = ResumeRequest(index=index, node=node, path=path, input={"choice": choice} if choice else {})
        await handle.execute_update(UPDATE_RESUME, request, id=f"resume-{index}")

    for index, node, path, problem in [
        (0, "ask", None, 'instruction "ask" has 3 instances waiting: give a path such as checks/batch/each[0]'),
        (1, "ask", "each[1]", 'has no instance at "each[1]": its instances run at paths like checks/batch/each[0]'),
        (2, "done", None, '"done" is not an instruction node'),
    ]:  # fmt: skip
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await resume(index, node, path, "yes")
        assert problem in str(refused.value.cause)
    await resume(3, "approve", None)  # one instance, at checks/manual: no path needed
    for index, item in enumerate([2, 0, 1], start=4):
        await resume(index, "ask", f"checks/batch/each[{item}]", "yes" if item != 1 else "no")
    result = await handle.result()
    assert result.output == {"manual": {}, "batch": ["yes", "no", "yes"]}
    await replays(handle)


async def test_a_sub_workflow_checks_its_input_and_is_cancelled_with_its_parent(drift):
    child = await drift.publish_workflow("slow-child", {
        "startAt": "nap", "inputSchema": {"type": "object", "required": ["amount"]},
        "nodes": [_wait("nap", 300, "woke"), _end("woke")],
    })  # fmt: skip
    parent = {"startAt": "pay", "nodes": [
        {"name": "pay", "type": "workflow", "next": "done", "workflow": {"ref": {"name": "slow-child"},
                                                                        "input": {"amount": "{{ input.total }}"}}},
        _end("done"),
    ]}  # fmt: skip
    wrong = {**parent, "nodes": [{**parent["nodes"][0], "workflow": {"ref": {"name": "slow-child"}}}, _end("done")]}
    handle = await drift.start(await drift.publish_workflow("bad-input-parent", wrong, children={"pay": child.version}))
    refused = await handle.result()
    assert (refused.phase, refused.error.code) == ("Failed", "CHILD_FAILED")
    assert "InvalidInput: input.amount: required" in refused.error.message

    handle = await drift.start(await drift.publish_workflow("cancel-parent", parent, children={"pay": child.version}),
                               {"total": 3})  # fmt: skip
    await snapshot_when(handle, lambda s: s.current_node == "pay" and s.phase == "Running")
    child_handle = drift.client.get_workflow_handle(f"{handle.id}/pay")
    await _status_becomes(child_handle, WorkflowExecutionStatus.RUNNING)
    await handle.cancel()
    await _status_becomes(child_handle, WorkflowExecutionStatus.CANCELED)


async def _status_becomes(handle, status: WorkflowExecutionStatus) -> None:
    """Wait until the execution exists and has ``status`` (the parent publishes its cursor before the child starts)."""
    async with asyncio.timeout(20):
        while True:
            try:
                if (await handle.describe()).status == status:
                    return
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(0.1)
