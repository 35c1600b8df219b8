"""WorkflowSchedules driven through kubectl: fires become owned runs, concurrency policies, bad specs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import yaml
from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from tests.conftest import kubectl
from tests.e2e.conftest import condition, eventually

pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")


def workflow(namespace: str) -> dict:
    """`pause`: waits for an answer when asked (input.hold), else succeeds at once."""
    nodes = [
        {"name": "route", "type": "branch", "default": "done", "choices": [{"when": "input.hold", "next": "ask"}]},
        {"name": "ask", "type": "instruction", "instruction": {"message": "go on?"}, "next": "done"},
        {"name": "done", "type": "success", "success": {"output": "input"}},
    ]
    metadata = {"name": "pause", "namespace": namespace}
    return {
        "apiVersion": "drift.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": {"startAt": "route", "nodes": nodes},
    }


def schedule(namespace: str, name: str, **spec: Any) -> dict:
    metadata = {"name": name, "namespace": namespace}
    spec = {"workflowRef": {"name": "pause"}, "input": {"hold": False}, **spec}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "WorkflowSchedule", "metadata": metadata, "spec": spec}


def apply(*objects: dict) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))


def get(namespace: str, kind: str, name: str) -> dict:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def runs_of(namespace: str, name: str) -> list[dict]:
    listed = kubectl("get", "wfr", "-n", namespace, "-l", f"drift.dev/schedule={name}", "-o", "json").stdout
    return json.loads(listed)["items"]


async def _temporal(stack_env: dict, action: str, sid: str) -> ScheduleDescription | None:
    client = await Client.connect(stack_env["DRIFT_TEMPORAL_ADDRESS"], namespace=stack_env["DRIFT_TEMPORAL_NAMESPACE"])
    handle = client.get_schedule_handle(sid)
    if action == "trigger":
        await handle.trigger()
        return None
    try:
        return await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def temporal(stack_env: dict, action: str, namespace: str, name: str) -> ScheduleDescription | None:
    """Trigger (fire now) or describe the schedule's Temporal Schedule (None when there is none)."""
    return asyncio.run(_temporal(stack_env, action, f"drift/{namespace}/{name}"))


def test_a_fire_becomes_a_run_owned_by_the_schedule(namespace, stack_env):
    apply(workflow(namespace), schedule(namespace, "nightly", schedule="30 2 * * *", timeZone="Europe/Berlin"))
    kubectl("wait", "wfs/nightly", "-n", namespace, "--for=condition=Ready", "--timeout=60s")
    ready = get(namespace, "wfs", "nightly")
    assert ready["status"]["nextScheduleTime"].endswith(("T01:30:00Z", "T00:30:00Z"))  # 02:30 in Berlin
    assert temporal(stack_env, "describe", namespace, "nightly") is not None

    kubectl("wait", "workflow/pause", "-n", namespace, "--for=condition=Ready", "--timeout=60s")
    temporal(stack_env, "trigger", namespace, "nightly")
    (run,) = eventually(lambda: runs_of(namespace, "nightly"), "the fire's run", 90)
    owner = run["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("WorkflowSchedule", "nightly", ready["metadata"]["uid"])
    assert owner["controller"] is True
    assert run["metadata"]["annotations"]["drift.dev/scheduled-at"]
    assert run["spec"] == {"workflowRef": {"name": "pause"}, "input": {"hold": False}}
    kubectl("wait", f"wfr/{run['metadata']['name']}", "-n", namespace, "--for=condition=Succeeded", "--timeout=60s")
    shown = eventually(
        lambda: (status := get(namespace, "wfs", "nightly")["status"]).get("lastRun") and status, "the run in status"
    )
    assert shown["lastRun"] == run["metadata"]["name"]
    assert shown["lastScheduleTime"] == run["metadata"]["annotations"]["drift.dev/scheduled-at"]

    kubectl("delete", "wfs", "nightly", "-n", namespace, "--timeout=60s")
    assert temporal(stack_env, "describe", namespace, "nightly") is None


def test_a_fire_while_the_operator_is_down_gets_its_run_when_it_is_back(namespace, stack_env, drift_operator):
    apply(workflow(namespace), schedule(namespace, "kept", schedule="@yearly"))
    kubectl("wait", "wfs/kept", "workflow/pause", "-n", namespace, "--for=condition=Ready", "--timeout=60s")
    drift_operator.stop()
    try:
        temporal(stack_env, "trigger", namespace, "kept")
        eventually(lambda: temporal(stack_env, "describe", namespace, "kept").info.recent_actions, "the fire")
        assert runs_of(namespace, "kept") == []  # the fire waits in Temporal for the operator's worker
    finally:
        drift_operator.start()
    (run,) = eventually(lambda: runs_of(namespace, "kept"), "the fire's run", 90)
    kubectl("wait", f"wfr/{run['metadata']['name']}", "-n", namespace, "--for=condition=Succeeded", "--timeout=60s")


def test_forbid_skips_fires_while_a_run_waits_and_replace_cancels_it(namespace, stack_env):
    apply(workflow(namespace))
    kubectl("wait", "workflow/pause", "-n", namespace, "--for=condition=Ready", "--timeout=60s")
    held = schedule(namespace, "every", schedule="@every 2s", concurrencyPolicy="Forbid", failedRunsHistoryLimit=1)
    held["spec"]["input"] = {"hold": True}
    apply(held)
    (first,) = eventually(lambda: runs_of(namespace, "every"), "the first run")
    name = first["metadata"]["name"]
    kubectl("wait", f"wfr/{name}", "-n", namespace, "--for=jsonpath={.status.phase}=Waiting", "--timeout=60s")
    skipped = lambda: temporal(stack_env, "describe", namespace, "every").info.num_actions_skipped_overlap  # noqa: E731
    eventually(lambda: skipped() >= 2, "fires skipped while the run waits")
    assert [run["metadata"]["name"] for run in runs_of(namespace, "every")] == [name]
    active = lambda: [run["name"] for run in get(namespace, "wfs", "every").get("status", {}).get("active", [])]  # noqa: E731
    eventually(lambda: active() == [name], "the waiting run shown active")

    held["spec"]["concurrencyPolicy"] = "Replace"
    apply(held)
    kubectl("wait", f"wfr/{name}", "-n", namespace, "--for=jsonpath={.status.phase}=Cancelled", "--timeout=60s")

    def cancelled() -> list[str]:
        runs = runs_of(namespace, "every")
        return [r["metadata"]["name"] for r in runs if r.get("status", {}).get("phase") == "Cancelled"]

    eventually(lambda: any(other > name for other in cancelled()), "the next run replaced in turn", 120)
    kubectl("patch", "wfs", "every", "-n", namespace, "--type=merge", "-p", '{"spec": {"suspend": true}}')
    suspended = "--for=jsonpath={.status.conditions[0].reason}=Suspended"
    kubectl("wait", "wfs/every", "-n", namespace, suspended, "--timeout=60s")
    assert temporal(stack_env, "describe", namespace, "every").schedule.state.paused
    gone = lambda: len(names := cancelled()) == 1 and name not in names  # noqa: E731
    eventually(gone, "cancelled runs beyond failedRunsHistoryLimit 1 deleted, the newest kept", 120)


def test_bad_schedules_are_refused_or_stalled_with_the_reason(namespace):
    vague = yaml.safe_dump(schedule(namespace, "vague", schedule="every day"))
    refused = kubectl("apply", "-f", "-", stdin=vague, check=False)
    assert refused.returncode != 0
    assert 'spec.schedule: Invalid value: "every day": must be a cron expression of 5 to 7 fields' in refused.stderr

    mars = schedule(namespace, "mars", schedule="@daily", timeZone="Mars/Olympus")
    apply(schedule(namespace, "minute-61", schedule="61 * * * *"), mars)
    for name, reason, message in (
        ("minute-61", "InvalidSchedule", "Minute is not in range"),
        ("mars", "InvalidTimeZone", 'spec.timeZone: unknown time zone "Mars/Olympus"'),
    ):
        kubectl("wait", f"wfs/{name}", "-n", namespace, "--for=condition=Stalled", "--timeout=60s")
        stalled = condition(get(namespace, "wfs", name), "Stalled")
        assert stalled["reason"] == reason
        assert message in stalled["message"]
        assert condition(get(namespace, "wfs", name), "Ready")["status"] == "False"
