"""The WorkflowRun status as a pure function of the observed state (drift_operator.run_status)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest

from drift.models.run import NodeExecution, RunError, WaitingFor
from drift.run_contract import RunEvent, RunSnapshot
from drift.run_observation import Execution
from drift_operator import status_writer
from drift_operator.run_registry import RunRegistry, RunState
from drift_operator.run_status import Observed, changes, format_duration, phase_of, run_status

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
START = NOW - timedelta(seconds=80)


def _snapshot(**fields) -> RunSnapshot:
    return RunSnapshot(**{"sequence": 1, "started_at": START, **fields})


WAITING = _snapshot(
    phase="Waiting",
    current_node="approve",
    nodes_completed=2,
    waiting_for=WaitingFor(node="approve", message="Refund 120?", options=["yes", "no"], since=START),
)
SUCCEEDED = _snapshot(phase="Succeeded", nodes_completed=3, output={"refunded": 120}, finished_at=NOW)
FAILED = _snapshot(phase="Failed", error=RunError(node="fetch", code="HTTP_404", message="not found"), finished_at=NOW)


@pytest.mark.parametrize(
    ("observed", "phase", "reason"),
    [
        pytest.param(Observed(), "Pending", "Starting", id="nothing yet"),
        pytest.param(Observed(blocked="WorkflowNotFound"), "Pending", "WorkflowNotFound", id="workflow missing"),
        pytest.param(Observed(blocked="WorkflowNotReady"), "Pending", "WorkflowNotReady", id="workflow stalled"),
        pytest.param(Observed(blocked="HBaseUnavailable"), "Pending", "HBaseUnavailable", id="backend down"),
        pytest.param(Observed(blocked="InvalidInput"), "Failed", "InvalidInput", id="bad input"),
        pytest.param(Observed(started=True), "Running", "Running", id="started, no snapshot"),
        pytest.param(Observed(started=True, snapshot=WAITING), "Waiting", "WaitingForInput", id="waiting"),
        pytest.param(Observed(started=True, snapshot=SUCCEEDED), "Running", "Running", id="end not on Temporal yet"),
        pytest.param(Observed(started=True, closed="COMPLETED", snapshot=SUCCEEDED), "Succeeded", "Succeeded", id="C"),
        pytest.param(Observed(started=True, closed="COMPLETED", snapshot=FAILED), "Failed", "Failed", id="completed f"),
        pytest.param(Observed(started=True, closed="COMPLETED"), "Succeeded", "Succeeded", id="completed, no result"),
        pytest.param(Observed(started=True, closed="FAILED"), "Failed", "Failed", id="execution failed"),
        pytest.param(Observed(started=True, closed="TIMED_OUT", snapshot=WAITING), "TimedOut", "TimedOut", id="to"),
        pytest.param(Observed(started=True, closed="CANCELED", snapshot=WAITING), "Cancelled", "Cancelled", id="c"),
        pytest.param(Observed(started=True, closed="TERMINATED"), "Failed", "Terminated", id="terminated"),
    ],
)
def test_phase_of(observed, phase, reason):
    assert phase_of(observed) == (phase, reason)


CONDITIONS = {
    "Pending": ("Unknown", "False", "True", "False"),
    "Running": ("Unknown", "False", "True", "False"),
    "Waiting": ("Unknown", "False", "True", "False"),
    "Succeeded": ("True", "True", "False", "False"),
    "Failed": ("False", "False", "False", "True"),
    "TimedOut": ("False", "False", "False", "True"),
    "Cancelled": ("False", "False", "False", "True"),
}
"""API.md's table: Succeeded, Ready, Reconciling, Stalled by phase."""


@pytest.mark.parametrize(
    "observed",
    [
        Observed(),
        Observed(started=True),
        Observed(started=True, snapshot=WAITING),
        Observed(started=True, closed="COMPLETED", snapshot=SUCCEEDED),
        Observed(started=True, closed="FAILED"),
        Observed(started=True, closed="TIMED_OUT"),
        Observed(started=True, closed="CANCELED"),
    ],
    ids=lambda o: phase_of(o)[0],
)
def test_conditions_follow_the_phase_table(observed):
    status = run_status(observed, {}, 4, NOW)
    by_type = {c["type"]: c for c in status["conditions"]}
    expected = CONDITIONS[status["phase"]]
    assert tuple(by_type[t]["status"] for t in ("Succeeded", "Ready", "Reconciling", "Stalled")) == expected
    assert all(c["observedGeneration"] == 4 and c["reason"] == phase_of(observed)[1] for c in by_type.values())
    assert not (by_type["Reconciling"]["status"] == "True" and by_type["Stalled"]["status"] == "True")


def test_waiting_status_shows_the_instruction():
    status = run_status(Observed(started=True, snapshot=WAITING), {}, 1, NOW)
    assert status["phase"] == "Waiting"
    assert status["currentNode"] == "approve"
    assert status["waitingFor"]["options"] == ["yes", "no"]
    assert status["message"] == "Waiting for input on approve"
    assert status["startedAt"] == "2026-03-01T11:58:40Z"
    assert "finishedAt" not in status
    assert "duration" not in status


def test_a_finished_run_clears_the_wait_and_gets_a_duration():
    status = run_status(Observed(started=True, closed="COMPLETED", snapshot=SUCCEEDED), {}, 1, NOW)
    assert status["waitingFor"] is None
    assert status["currentNode"] is None
    assert status["output"] == {"refunded": 120}
    assert (status["finishedAt"], status["duration"]) == ("2026-03-01T12:00:00Z", "1m20s")


def test_a_failed_run_reports_the_error():
    status = run_status(Observed(started=True, closed="COMPLETED", snapshot=FAILED), {}, 1, NOW)
    assert status["error"] == {"node": "fetch", "code": "HTTP_404", "message": "not found"}
    assert status["message"] == "HTTP_404 at node fetch: not found"


def test_a_close_without_snapshot_keeps_the_last_fields_and_uses_the_close_time():
    previous = {"phase": "Waiting", "startedAt": "2026-03-01T11:58:40Z", "nodesCompleted": 2}
    closed_at = NOW - timedelta(seconds=10)
    status = run_status(Observed(started=True, closed="TIMED_OUT", closed_at=closed_at), previous, 1, NOW)
    assert "nodesCompleted" not in status
    assert "nodes" not in status
    assert (status["phase"], status["finishedAt"], status["duration"]) == ("TimedOut", "2026-03-01T11:59:50Z", "1m10s")
    assert status["waitingFor"] is None


def test_blocked_and_noticed_messages():
    missing = Observed(blocked="WorkflowNotFound", detail='Workflow "w" not found or not Ready')
    assert run_status(missing, {}, 1, NOW)["message"] == 'Workflow "w" not found or not Ready'
    invalid = Observed(blocked="InvalidInput", detail="input.orderId: required")
    assert run_status(invalid, {}, 1, NOW)["message"] == "input.orderId: required"
    refused = Observed(started=True, snapshot=WAITING, notice="resume[0] for node approve refused: bad choice")
    assert run_status(refused, {}, 1, NOW)["message"].startswith("resume[0]")


def test_status_keeps_the_last_50_nodes():
    nodes = [NodeExecution(name=f"n{i}", type="script", phase="Succeeded") for i in range(60)]
    status = run_status(Observed(started=True, snapshot=_snapshot(nodes=nodes)), {}, 1, NOW)
    assert [n["name"] for n in status["nodes"]] == [f"n{i}" for i in range(10, 60)]


def test_rewriting_the_same_observation_changes_nothing():
    observed = Observed(started=True, snapshot=WAITING)
    first = run_status(observed, {}, 1, NOW)
    again = run_status(observed, first, 1, NOW + timedelta(minutes=5))
    assert changes(again, first) == {}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.35, "350ms"), (0, "0ms"), (1, "1s"), (42.9, "42s"), (80, "1m20s"), (3600, "1h0m0s"), (7384, "2h3m4s")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


async def test_an_end_is_shown_once_temporal_has_recorded_it(monkeypatch: pytest.MonkeyPatch):
    # The worker sends the final snapshot just before the workflow task that ends the run completes; a Temporal
    # server killed in between loses that task (and the end) while the snapshot is already out.
    closes = {"ns/run/uid": Execution("COMPLETED", NOW, SUCCEEDED, None), "ns/lost/uid": None,
              "ns/continued/uid": Execution(None, None, None, None)}  # fmt: skip

    async def await_close(client, workflow_id, seconds):
        return closes[workflow_id]

    monkeypatch.setattr(status_writer.run_observation, "await_close", await_close)
    writer = status_writer.StatusWriter(None, None, None, 0.2, None)  # type: ignore[arg-type]
    assert await writer._confirm_end("ns/run/uid") == {"closed": "COMPLETED", "closed_at": NOW, "detail": None,
                                                      "snapshot": SUCCEEDED}  # fmt: skip
    assert await writer._confirm_end("ns/lost/uid") == {}
    assert await writer._confirm_end("ns/continued/uid") == {}


async def test_an_end_arriving_during_the_coalescing_window_is_written_at_once():
    # A Running snapshot was just written; the next waits out the window, but not the run's end.
    writer = status_writer.StatusWriter(None, None, None, 10.0, None)  # type: ignore[arg-type]
    state = RunState("ns", "run", "uid", "ns/run/uid", pending=_snapshot(phase="Running", sequence=2))
    state.last_write = time.monotonic()
    waiting = asyncio.create_task(writer._coalesce(state))
    await asyncio.sleep(0)
    state.pending = _snapshot(phase="Succeeded", sequence=3, finished_at=NOW)
    state.arrived.set()
    await asyncio.wait_for(waiting, 1.0)


async def test_the_end_is_recorded_beside_the_context_while_temporal_confirms_it(monkeypatch: pytest.MonkeyPatch):
    marked = asyncio.Event()

    class Store:
        async def mark_context_finished(self, workflow_id: str, finished_at: datetime) -> None:
            assert (workflow_id, finished_at) == ("ns/run/uid", NOW)
            marked.set()

    async def await_close(client, workflow_id, seconds):
        await marked.wait()  # answers only once the mark is under way: the two overlap
        return Execution("COMPLETED", NOW, SUCCEEDED, None)

    monkeypatch.setattr(status_writer.run_observation, "await_close", await_close)
    writer = status_writer.StatusWriter(None, Store(), None, 0.2, None)  # type: ignore[arg-type]
    state = RunState("ns", "run", "uid", "ns/run/uid", observed=Observed(started=True, snapshot=SUCCEEDED))
    assert await asyncio.wait_for(writer._confirm_and_mark(state), 1.0)
    assert (state.observed.closed, state.observed.closed_at) == ("COMPLETED", NOW)


async def test_an_end_is_confirmed_before_its_write_waits_for_a_slot_and_not_again(monkeypatch: pytest.MonkeyPatch):
    # Temporal's long poll for the close must not hold one of the status queue's few slots.
    polls, marks = [], []

    class Store:
        async def mark_context_finished(self, workflow_id: str, finished_at: datetime) -> None:
            marks.append(workflow_id)

    async def await_close(client, workflow_id, seconds):
        polls.append(workflow_id)
        return Execution("COMPLETED", NOW, SUCCEEDED, None)

    monkeypatch.setattr(status_writer.run_observation, "await_close", await_close)
    writer = status_writer.StatusWriter(None, Store(), None, 0.2, None)  # type: ignore[arg-type]
    state = RunState("ns", "run", "uid", "ns/run/uid", observed=Observed(started=True), pending=SUCCEEDED)
    await writer._confirm_ahead(state)
    assert (polls, marks) == (["ns/run/uid"], ["ns/run/uid"])
    state.observed = dataclasses.replace(state.observed, snapshot=state.pending)  # what the write records
    assert await writer._confirm_and_mark(state)
    assert (state.observed.closed, len(polls), len(marks), state.end_ahead) == ("COMPLETED", 1, 1, None)


@pytest.mark.parametrize("end_recorded", [True, False], ids=["recorded by the worker", "by an earlier worker"])
async def test_the_end_is_recorded_once_beside_the_context(monkeypatch: pytest.MonkeyPatch, end_recorded):
    # The worker records a run's end with its last context and says so on the run event; an event without it (a
    # worker before 2026-11-27) leaves the record to the operator.
    marks, patches = [], []

    class Store:
        async def mark_context_finished(self, workflow_id: str, finished_at: datetime) -> None:
            marks.append((workflow_id, finished_at))

    class Kube:
        async def patch_status(self, plural, namespace, name, status):
            patches.append(status)
            return {"metadata": {"uid": "uid", "generation": 1}, "status": dict(status)}

        async def event(self, *args) -> None:
            pass

    async def await_close(client, workflow_id, seconds):
        return Execution("COMPLETED", NOW, SUCCEEDED, None)

    monkeypatch.setattr(status_writer.run_observation, "await_close", await_close)
    runs = RunRegistry()
    writer = status_writer.StatusWriter(Kube(), Store(), runs, 0.2, None)  # type: ignore[arg-type]
    body = {"metadata": {"namespace": "ns", "name": "run", "uid": "uid", "generation": 1},
            "status": {"phase": "Waiting", "execution": {"workflowId": "ns/run/uid"}}}  # fmt: skip
    state = runs.track(body)
    state.observed = Observed(started=True, snapshot=WAITING)
    final = SUCCEEDED.model_copy(update={"sequence": WAITING.sequence + 1})
    writer.offer(RunEvent(workflow_id=state.workflow_id, snapshot=final, end_recorded=end_recorded), epoch=0)
    await asyncio.wait_for(state.flusher, 1.0)  # type: ignore[arg-type]
    assert [patch["phase"] for patch in patches] == ["Succeeded"]
    assert marks == ([] if end_recorded else [(state.workflow_id, NOW)])
