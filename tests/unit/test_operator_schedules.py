"""WorkflowSchedules' pure parts: the Temporal Schedule built from a spec, history limits, the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import ScheduleOverlapPolicy

from drift.models.schedule import WorkflowScheduleSpec
from drift_operator.schedule_fire import Fire, run_name
from drift_operator.schedule_runs import SCHEDULE_LABEL, SCHEDULED_AT, ScheduledRun, expired, scheduled_run, seen_run
from drift_operator.schedule_status import Observed, schedule_status
from drift_operator.schedules import temporal_schedule

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
FIRE = Fire(namespace="ops", schedule="nightly", uid="uid-1")


def spec(**fields) -> WorkflowScheduleSpec:
    return WorkflowScheduleSpec.model_validate({"schedule": "30 2 * * *", "workflowRef": {"name": "wf"}, **fields})


@pytest.mark.parametrize(
    ("policy", "overlap"),
    [
        ("Allow", ScheduleOverlapPolicy.ALLOW_ALL),
        ("Forbid", ScheduleOverlapPolicy.SKIP),
        ("Replace", ScheduleOverlapPolicy.CANCEL_OTHER),
    ],
)
def test_concurrency_policies_map_to_overlap_policies(policy, overlap):
    assert temporal_schedule(spec(concurrencyPolicy=policy), FIRE, "q").policy.overlap == overlap


def test_the_temporal_schedule_carries_cron_zone_deadline_and_suspend():
    schedule = temporal_schedule(
        spec(timeZone="Europe/Berlin", startingDeadlineSeconds=600, suspend=True), FIRE, "drift-schedules"
    )
    assert (schedule.spec.cron_expressions, schedule.spec.time_zone_name) == (["30 2 * * *"], "Europe/Berlin")
    assert schedule.policy.catchup_window == timedelta(seconds=600)
    assert schedule.state.paused
    assert (schedule.action.workflow, schedule.action.id, schedule.action.task_queue) == (
        "DriftScheduleFire",
        "drift/ops/nightly",
        "drift-schedules",
    )
    assert schedule.action.args == [FIRE]
    assert temporal_schedule(spec(), FIRE, "q").policy.catchup_window is None  # Temporal's default, a year


def test_a_fires_run_is_owned_by_the_schedule_and_found_again_by_its_name():
    schedule = {
        "metadata": {"name": "nightly", "namespace": "ops", "uid": "uid-1", "labels": {"team": "pay"}},
        "spec": {"workflowRef": {"name": "wf"}, "input": {"day": 1}},
    }
    name = run_name("nightly", NOW)
    assert name == "nightly-1795656600"
    body = scheduled_run(schedule, name, NOW)
    assert body["metadata"]["labels"] == {"team": "pay", SCHEDULE_LABEL: "nightly"}
    assert body["metadata"]["annotations"] == {SCHEDULED_AT: "2026-11-26T01:30:00Z"}
    assert body["spec"] == {"workflowRef": {"name": "wf"}, "input": {"day": 1}}
    seen = seen_run({**body, "metadata": {**body["metadata"], "uid": "run-uid"}})
    assert seen == ScheduledRun(name=name, uid="run-uid", owner_uid="uid-1", phase=None, scheduled_at=NOW)


def _run(minute: int, phase: str | None) -> ScheduledRun:
    return ScheduledRun(f"r{minute}", f"u{minute}", "uid-1", phase, NOW + timedelta(minutes=minute))


def test_history_limits_keep_the_newest_finished_runs_of_each_outcome():
    runs = [_run(1, "Succeeded"), _run(2, "Failed"), _run(3, "Succeeded"), _run(4, "Cancelled"), _run(5, "Running"),
            _run(6, "Succeeded"), _run(7, "TimedOut")]  # fmt: skip
    assert [run.name for run in expired(runs, 2, 1)] == ["r1", "r4", "r2"]
    assert expired(runs, 10, 10) == []


def test_status_shows_fires_and_active_runs_and_only_what_changed():
    observed = Observed(
        "Scheduled", "Next fire ...", runs=[_run(1, "Succeeded"), _run(2, "Running")], schedule_id="drift/ops/nightly",
        next_fire=NOW + timedelta(days=1),
    )  # fmt: skip
    status = schedule_status(observed, {}, 3, NOW)
    assert status["lastRun"] == "r2"
    assert status["lastScheduleTime"] == "2026-11-26T01:32:00Z"
    assert status["nextScheduleTime"] == "2026-11-27T01:30:00Z"
    assert status["active"] == [{"name": "r2", "scheduledAt": "2026-11-26T01:32:00Z"}]
    ready = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert ready == {"Ready": ("True", "Scheduled"), "Reconciling": ("False", "Scheduled"),
                     "Stalled": ("False", "Scheduled")}  # fmt: skip
    assert schedule_status(observed, status, 3, NOW + timedelta(seconds=10)) == {}


@pytest.mark.parametrize(
    ("reason", "ready", "reconciling", "stalled"),
    [
        ("Suspended", "True", "False", "False"),
        ("TemporalUnavailable", "False", "True", "False"),
        ("InvalidTimeZone", "False", "False", "True"),
        ("InvalidSchedule", "False", "False", "True"),
    ],
)
def test_conditions_per_reason(reason, ready, reconciling, stalled):
    conditions = schedule_status(Observed(reason, "why"), {}, 1, NOW)["conditions"]
    assert [c["status"] for c in conditions] == [ready, reconciling, stalled]
