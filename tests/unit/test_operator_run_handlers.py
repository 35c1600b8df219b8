"""The WorkflowRun event handler: what it reconciles, schedules for deletion and terminates (fakes for the
reconcile and Temporal; the handler's decisions are what is under test)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from drift_operator import operator_settings, run_handlers
from drift_operator.run_expiry import RunExpiry
from drift_operator.run_handlers import acted_on, changed, run_event
from drift_operator.run_index import RunIndex
from drift_operator.run_orphans import run_of
from drift_operator.run_registry import RunRegistry

UID = "0b5c8a1e-6a0e-4c7e-9d43-1f0d3c2b9a77"
KEY = f"ns/r/{UID}"


def run(generation: int = 1, status: dict | None = None, **annotations: str) -> dict:
    meta = {"namespace": "ns", "name": "r", "uid": UID, "generation": generation,
            "creationTimestamp": "2026-11-26T10:00:00Z", "annotations": annotations}  # fmt: skip
    return {"metadata": meta, "spec": {"workflowRef": {"name": "w"}}, "status": status or {}}


@pytest.fixture
def operator(monkeypatch):
    """The handler's memo, with the reconciles and terminations it asked for recorded."""
    calls: list[tuple] = []

    async def attempt(body, services, stalled, *, observe):
        calls.append(("reconcile", body["metadata"]["generation"], observe))
        services.runs.track(body)

    async def retire(services, workflow_id, *, started):
        calls.append(("terminate", workflow_id, started))

    def observe_soon(state, services):
        calls.append(("observe", state.generation))

    monkeypatch.setattr(run_handlers, "attempt", attempt)
    monkeypatch.setattr(run_handlers, "observe_soon", observe_soon)
    monkeypatch.setattr(run_handlers, "retire", retire)
    memo = SimpleNamespace(
        runs=RunRegistry(),
        expiry=RunExpiry(kube=None),
        index=RunIndex(),
        settings=operator_settings.load({}),
        first_sight=asyncio.Semaphore(8),
    )
    return memo, calls


async def test_a_run_is_reconciled_at_first_sight_and_on_a_new_spec_not_on_its_own_status_writes(operator):
    memo, calls = operator
    await run_event("ADDED", run(), memo, None)
    await run_event("MODIFIED", run(status={"phase": "Waiting"}), memo, None)  # the operator's own write
    await run_event("MODIFIED", run(generation=2, status={"phase": "Waiting"}), memo, None)  # a resume entry
    assert calls == [("reconcile", 1, True), ("reconcile", 2, False)]


STARTED = {"phase": "Waiting", "execution": {"workflowId": KEY}, "observedGeneration": 1, "resumesDelivered": 0}


async def test_a_run_found_started_is_observed_in_the_background_and_its_resume_reconciled_at_once(operator):
    # After a restart with many runs, the first-sight comparison with Temporal must not hold up a resume.
    memo, calls = operator
    await run_event(None, run(status=STARTED), memo, None)  # kopf's first listing
    await run_event("MODIFIED", run(generation=2, status=STARTED), memo, None)  # a resume entry
    assert calls == [("observe", 1), ("reconcile", 2, False)]


async def test_a_run_whose_spec_changed_while_the_operator_was_away_is_reconciled_at_first_sight(operator):
    memo, calls = operator
    await run_event(None, run(generation=2, status=STARTED), memo, None)
    assert calls == [("reconcile", 2, True)]


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        pytest.param({}, {"observedGeneration": 1}, True, id="observed"),
        pytest.param({}, {"observedGeneration": 0}, False, id="a newer spec"),
        pytest.param({"resume": [{"node": "a"}]}, {"observedGeneration": 1, "resumesDelivered": 1}, True, id="done"),
        pytest.param({"resume": [{"node": "a"}]}, {"observedGeneration": 1}, False, id="a resume not delivered"),
        pytest.param({"cancel": True}, {"observedGeneration": 1}, False, id="cancel"),
    ],
)
def test_acted_on(spec, status, expected):
    body = {"metadata": {"generation": 1}, "spec": spec, "status": status}
    assert acted_on(body) is expected


async def test_a_workflow_trigger_reconciles_a_pending_run_again(operator):
    memo, calls = operator
    await run_event(None, run(status={"phase": "Pending"}), memo, None)
    await run_event("MODIFIED", run(status={"phase": "Pending"}, **{"drift.dev/trigger": "ready"}), memo, None)
    await run_event(
        "MODIFIED", run(status={"phase": "Pending"}, **{"drift.dev/trigger": "ready", "x": "y"}), memo, None
    )
    assert [call[0] for call in calls] == ["reconcile", "reconcile"]


async def test_an_event_older_than_the_end_the_operator_wrote_is_ignored(operator):
    memo, calls = operator
    await run_event("ADDED", run(), memo, None)
    memo.runs.finish(KEY)
    await run_event("MODIFIED", run(status={"phase": "Running"}), memo, None)
    assert len(calls) == 1


async def test_the_end_the_operator_wrote_is_forgotten_once_an_event_shows_it(operator):
    memo, calls = operator
    await run_event("ADDED", run(), memo, None)
    memo.runs.finish(KEY)
    await run_event("MODIFIED", run(status={"phase": "Running"}), memo, None)  # stale: before the end's event
    assert memo.runs.finished(KEY)
    await run_event("MODIFIED", run(status={"phase": "Succeeded"}), memo, None)  # the end written, as watched
    assert not memo.runs.finished(KEY)
    assert calls == [("reconcile", 1, True)]


async def test_a_finished_run_with_a_ttl_is_scheduled_from_its_finish(operator):
    memo, calls = operator
    finished = {"phase": "Succeeded", "finishedAt": "2026-11-26T10:00:05Z"}
    body = run(status=finished)
    body["spec"]["ttlSecondsAfterFinished"] = 30
    await run_event(None, body, memo, None)
    assert memo.expiry.take(time.time()) == [("ns", "r", UID)]  # long past: due now
    await run_event(None, run(status=finished), memo, None)  # no TTL: kept
    assert len(memo.expiry) == 0
    assert calls == []


async def test_deleting_an_unfinished_run_terminates_its_execution_a_finished_one_is_left(operator):
    memo, calls = operator
    await run_event("DELETED", run(status={"phase": "Waiting", "execution": {"workflowId": KEY}}), memo, None)
    await run_event("DELETED", run(status={"phase": "Succeeded", "execution": {"workflowId": KEY}}), memo, None)
    assert calls == [("terminate", KEY, True)]


def test_only_a_new_generation_or_trigger_asks_for_a_reconcile():
    seen = {"generation": 1, "annotations": {"drift.dev/trigger": "a"}}
    assert not changed(seen, {"generation": 1, "annotations": {"drift.dev/trigger": "a", "other": "x"}})
    assert changed(seen, {"generation": 2, "annotations": {"drift.dev/trigger": "a"}})
    assert changed(seen, {"generation": 1, "annotations": {"drift.dev/trigger": "b"}})


def test_the_expiry_keeps_the_latest_time_of_each_run():
    expiry = RunExpiry(kube=None)
    expiry.schedule("ns", "a", "u1", 10.0)
    expiry.schedule("ns", "a", "u1", 20.0)  # moved
    expiry.schedule("ns", "b", "u2", 15.0)
    expiry.schedule("ns", "c", "u3", 12.0)
    expiry.discard("u3")  # deleted meanwhile
    assert expiry.take(16.0) == [("ns", "b", "u2")]
    assert expiry.take(25.0) == [("ns", "a", "u1")]
    assert len(expiry) == 0


@pytest.mark.parametrize(
    ("workflow_id", "watched", "expected"),
    [
        (KEY, None, ("ns", "r", UID)),
        (KEY, "other", None),  # another namespace than the watched one
        (f"{KEY}/child", None, None),  # a sub-workflow
        ("ns/trigger/orders/0123abcd", None, None),  # a trigger's run
        ("ns/r/not-a-uid", None, None),
    ],
)
def test_only_a_workflow_runs_own_execution_can_be_an_orphan(workflow_id, watched, expected):
    assert run_of(workflow_id, watched) == expected


@pytest.mark.parametrize("status", [{}, {"phase": "Succeeded", "finishedAt": "2026-11-27T09:00:00Z"}])
async def test_a_deleted_run_has_an_earlier_operators_finalizer_released_and_no_other(operator, status):
    memo, _ = operator
    patches = []

    async def patch(plural, namespace, name, body):
        patches.append((plural, namespace, name, body))

    memo.kube = SimpleNamespace(patch=patch)
    deleting = run(status=status)
    deleting["metadata"] |= {"deletionTimestamp": "2026-11-27T10:00:00Z", "resourceVersion": "7",
                             "finalizers": ["example.com/keep", operator_settings.FINALIZER]}  # fmt: skip
    await run_event("MODIFIED", deleting, memo, None)
    deleting["metadata"]["finalizers"] = ["example.com/keep"]
    await run_event("MODIFIED", deleting, memo, None)
    assert patches == [
        ("workflowruns", "ns", "r", {"metadata": {"finalizers": ["example.com/keep"], "resourceVersion": "7"}})
    ]


def test_the_run_index_files_each_run_as_its_latest_event_says():
    index = RunIndex()
    pending = run(status={})
    pending["metadata"]["labels"] = {"drift.dev/schedule": "nightly"}
    index.update(pending)
    assert index.pending_runs("ns", "w") == ["r"]
    assert [r.name for r in index.schedule_runs("ns", "nightly")] == ["r"]
    assert index.phase_counts["Pending"] == 1
    started = run(status={"phase": "Succeeded"})
    started["metadata"]["labels"] = {"drift.dev/schedule": "nightly"}
    index.update(started)
    assert index.pending_runs("ns", "w") == []
    assert [r.phase for r in index.schedule_runs("ns", "nightly")] == ["Succeeded"]
    assert (index.phase_counts["Pending"], index.phase_counts["Succeeded"]) == (0, 1)
    index.remove(UID)
    assert index.schedule_runs("ns", "nightly") == []
    assert index.phase_counts["Succeeded"] == 0
    assert index.trigger_runs("ns", "orders") == []
