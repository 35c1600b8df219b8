"""The operator's per-run registry: the status it decides from is what it last wrote, not a stale body."""

from __future__ import annotations

from drift.run_events import RunEvents
from drift_operator.run_registry import RunRegistry


def body(status: dict, generation: int = 1) -> dict:
    meta = {"namespace": "default", "name": "r", "uid": "u1", "generation": generation}
    return {"metadata": meta, "spec": {}, "status": status}


def test_a_run_is_read_from_its_body_once_then_from_what_was_written():
    runs = RunRegistry()
    state = runs.track(body({"phase": "Pending"}))
    state.status = {"phase": "Running", "execution": {"workflowId": "default/r/u1"}}
    again = runs.track(body({}, generation=2))  # an older body, delivered late
    assert again is state
    assert state.status["execution"] == {"workflowId": "default/r/u1"}
    assert state.generation == 2


def test_staged_fields_count_as_the_status_a_reconcile_decides_from():
    state = RunRegistry().track(body({"phase": "Waiting", "resumesDelivered": 0}))
    state.staged = {"resumesDelivered": 1}
    assert state.intended == {"phase": "Waiting", "resumesDelivered": 1}


def test_a_forgotten_run_is_read_from_its_body_again():
    runs = RunRegistry()
    runs.track(body({"phase": "Running"}))
    runs.forget("default/r/u1")
    assert runs.get("default/r/u1") is None
    assert runs.track(body({"phase": "Succeeded"})).status == {"phase": "Succeeded"}


def test_a_snapshot_is_live_only_from_the_current_subscription():
    events = RunEvents()
    assert not events.live(0)  # never subscribed
    events.epoch, events.connected = 2, True
    assert events.live(2)
    assert not events.live(1)  # from before a reconnect: events may have been missed
    events.connected = False
    assert not events.live(2)


def test_a_run_annotated_with_an_execution_adopts_it():
    adopted = body({})
    adopted["metadata"]["annotations"] = {"drift.dev/execution": "default/trigger/orders/0123abcd"}
    state = RunRegistry().track(adopted)
    assert (state.workflow_id, state.adopted) == ("default/trigger/orders/0123abcd", True)
    own = RunRegistry().track(body({}))
    assert (own.workflow_id, own.adopted) == ("default/r/u1", False)


def test_a_finished_run_is_remembered_until_it_is_deleted():
    runs = RunRegistry()
    runs.track(body({"phase": "Running"}))
    runs.finish("default/r/u1")
    assert runs.get("default/r/u1") is None
    assert runs.finished("default/r/u1")  # a late event showing it Running is older than its end
    runs.forget("default/r/u1")
    assert not runs.finished("default/r/u1")


def test_a_finished_run_is_forgotten_once_a_watch_event_shows_its_end():
    runs = RunRegistry()
    runs.track(body({"phase": "Running"}))
    runs.finish("default/r/u1")
    runs.forget_finished("default/r/u1")
    assert not runs.finished("default/r/u1")  # every later event is newer than the end written
    assert not runs._finished
    runs.forget_finished("default/r/u1")  # again (a re-listing shows the end once more): nothing to forget
    assert not runs.finished("default/r/u1")
