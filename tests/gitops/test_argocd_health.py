"""Argo CD health checks of the kinds (gitops/argocd), run in Lua 5.1 as Argo CD's gopher-lua runs them.

Each case is a sample object as Argo CD hands it to the script (the global `obj`) and the health it must
report (API.md, "Conditions by phase").
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

try:
    from lupa import lua51
except ImportError:  # pragma: no cover - a missing dev dependency must fail, not skip
    lua51 = None

ARGOCD = REPO_ROOT / "gitops" / "argocd"
SCRIPTS = ARGOCD / "resource_customizations" / "drift.dev"
KINDS = ("NodeDefinition", "Workflow", "WorkflowRun", "WorkflowSchedule", "WorkflowTrigger")


def health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) of `kind`'s health.lua run on `obj`, in a fresh Lua 5.1 runtime."""
    if lua51 is None:
        pytest.fail("lupa is missing: install the dev dependency lupa>=2.0 (it runs the Lua health checks)")
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute((SCRIPTS / kind / "health.lua").read_text())
    assert set(result.keys()) <= {"status", "message"}, "Argo CD reads only status and message"
    return result["status"], result["message"]


def condition(type_: str, status: str, reason: str, message: str = "", generation: int | None = 3) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": type_, "status": status, "reason": reason, "message": message}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def definition(*conditions: dict[str, Any], generation: int | None = 3, **status: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "drift.dev/v1alpha1", "metadata": {"name": "fetch-order"}}
    if generation is not None:
        obj["metadata"]["generation"] = generation
    if conditions or status:
        obj["status"] = {**status, "conditions": list(conditions)}
    return obj


READY = condition("Ready", "True", "Synced")
NOT_READY = condition("Ready", "False", "Syncing", "storing the version in HBase")
RECONCILING = condition("Reconciling", "True", "Syncing", "storing the version in HBase")
NOT_RECONCILING = condition("Reconciling", "False", "Synced")
STALLED = condition("Stalled", "True", "InvalidDefinition", "node decide: unknown target 'nowhere'")
NOT_STALLED = condition("Stalled", "False", "Synced")

DEFINITION_CASES = [
    pytest.param(
        {"metadata": {"name": "x", "generation": 1}}, "Progressing", "Waiting for the operator", id="no-status"
    ),
    pytest.param(definition(), "Progressing", "Waiting for the operator", id="no-conditions"),
    pytest.param(
        definition(READY, NOT_RECONCILING, NOT_STALLED, version="7f3a9c21d0b4", observedGeneration=3),
        "Healthy",
        "Synced (version 7f3a9c21d0b4)",
        id="ready",
    ),
    pytest.param(
        definition(NOT_READY, RECONCILING, NOT_STALLED), "Progressing", "Syncing: storing the version", id="reconciling"
    ),
    pytest.param(
        definition(condition("Ready", "False", "UnknownNodeRef", "node fetch: no NodeDefinition fetch-order")),
        "Progressing",
        "UnknownNodeRef: node fetch",
        id="not-ready-without-stalled",
    ),
    pytest.param(
        definition(condition("Ready", "False", "InvalidDefinition"), STALLED, NOT_RECONCILING),
        "Degraded",
        "InvalidDefinition: node decide: unknown target 'nowhere'",
        id="stalled",
    ),
    pytest.param(
        definition(
            condition("Ready", "False", "HBaseUnavailable", "connection refused"),
            condition("Reconciling", "True", "HBaseUnavailable", "connection refused"),
            condition("Stalled", "False", "HBaseUnavailable", "connection refused"),
        ),
        "Progressing",
        "HBaseUnavailable: connection refused",
        id="backend-outage-is-retried-not-degraded",
    ),
    pytest.param(definition(READY, STALLED), "Degraded", "InvalidDefinition", id="stalled-wins-over-ready"),
    pytest.param(
        definition(condition("Ready", "True", "Synced", generation=2), NOT_STALLED, generation=3),
        "Progressing",
        "Waiting for the operator to observe generation 3",
        id="stale-ready-is-not-trusted",
    ),
    pytest.param(
        definition(condition("Stalled", "True", "InvalidDefinition", generation=2), RECONCILING, generation=3),
        "Progressing",
        "Syncing",
        id="stale-stalled-is-not-trusted",
    ),
    pytest.param(
        definition(condition("Ready", "True", "Synced", generation=None), observedGeneration=3),
        "Healthy",
        "Synced",
        id="condition-without-generation-uses-status-observed-generation",
    ),
    pytest.param(
        definition(condition("Ready", "True", "Synced", generation=None), observedGeneration=2),
        "Progressing",
        "observe generation 3",
        id="condition-without-generation-and-stale-status",
    ),
    pytest.param(
        definition(condition("Ready", "True", "Synced", generation=None)),
        "Progressing",
        "observe generation 3",
        id="no-generation-anywhere-is-not-trusted",
    ),
    pytest.param(
        definition(condition("Ready", "True", "Synced", generation=1), generation=None),
        "Healthy",
        "Synced",
        id="object-without-generation",
    ),
]


@pytest.mark.parametrize("kind", ["NodeDefinition", "Workflow", "WorkflowSchedule", "WorkflowTrigger"])
@pytest.mark.parametrize(("obj", "status", "message"), DEFINITION_CASES)
def test_definition_health(kind, obj, status, message):
    got_status, got_message = health(kind, obj)
    assert got_status == status
    assert message in got_message


def run(phase: str | None, generation: int = 1, observed: int | None = 1, **status: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "drift.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {"name": "refund-approval-x7k2p", "namespace": "support", "generation": generation},
        "spec": {"workflowRef": {"name": "refund-approval"}},
    }
    if phase is not None or status or observed is not None:
        obj["status"] = dict(status)
        if phase is not None:
            obj["status"]["phase"] = phase
        if observed is not None:
            obj["status"]["observedGeneration"] = observed
    return obj


WAITING_FOR = {"node": "manager-approval", "message": "Refund 120?", "options": ["approve", "reject"]}

RUN_CASES = [
    pytest.param(run(None, observed=None), "Progressing", "Waiting for the operator to start the run", id="no-status"),
    pytest.param(run(None), "Progressing", "Waiting for the operator to start the run", id="no-phase"),
    pytest.param(
        run("Pending", message="Workflow refund-approval not found"),
        "Progressing",
        "Workflow refund-approval not found",
        id="pending",
    ),
    pytest.param(run("Running", message="Running fetch-order"), "Progressing", "Running fetch-order", id="running"),
    pytest.param(run("Running"), "Progressing", "Running", id="running-without-message"),
    pytest.param(
        run("Waiting", message="Waiting for input on manager-approval", waitingFor=WAITING_FOR),
        "Suspended",
        "Waiting for input on manager-approval",
        id="waiting",
    ),
    pytest.param(
        run("Waiting", waitingFor=WAITING_FOR), "Suspended", "Waiting for input on manager-approval", id="waiting-node"
    ),
    pytest.param(
        run("Waiting", generation=2, observed=1, waitingFor=WAITING_FOR),
        "Progressing",
        "Waiting for the operator to observe generation 2",
        id="waiting-with-unobserved-resume",
    ),
    pytest.param(
        run("Running", generation=2, observed=None), "Progressing", "observe generation 2", id="running-unobserved"
    ),
    pytest.param(run("Succeeded", message="Refunded 120"), "Healthy", "Refunded 120", id="succeeded"),
    pytest.param(run("Succeeded"), "Healthy", "Succeeded", id="succeeded-without-message"),
    pytest.param(
        run("Failed", message="fetch-order: HTTP 404", error={"node": "fetch-order", "code": "HTTP_404"}),
        "Degraded",
        "fetch-order: HTTP 404",
        id="failed",
    ),
    pytest.param(
        run("Failed", error={"node": "auto-refund", "code": "REFUND_FAILED", "message": "payment service down"}),
        "Degraded",
        "payment service down",
        id="failed-message-from-error",
    ),
    pytest.param(run("TimedOut", message="Timed out after 604800s"), "Degraded", "Timed out", id="timed-out"),
    pytest.param(run("Cancelled", message="Cancelled by spec.cancel"), "Degraded", "Cancelled by", id="cancelled"),
    pytest.param(run("Cancelled"), "Degraded", "Cancelled", id="cancelled-without-message"),
    pytest.param(
        run("Succeeded", generation=3, observed=2, message="done"), "Healthy", "done", id="final-phase-is-final"
    ),
    pytest.param(run("Exploded"), "Progressing", "Unknown phase Exploded", id="unknown-phase"),
]


@pytest.mark.parametrize(("obj", "status", "message"), RUN_CASES)
def test_workflow_run_health(obj, status, message):
    got_status, got_message = health("WorkflowRun", obj)
    assert got_status == status
    assert message in got_message


API_TABLE = {
    "Pending": "Progressing",
    "Running": "Progressing",
    "Waiting": "Suspended",
    "Succeeded": "Healthy",
    "Failed": "Degraded",
    "TimedOut": "Degraded",
    "Cancelled": "Degraded",
}


def test_every_phase_of_the_crd_has_the_health_of_the_api_table():
    crd = yaml.safe_load((REPO_ROOT / "crds" / "drift.dev_workflowruns.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    phases = schema["properties"]["status"]["properties"]["phase"]["enum"]
    assert set(phases) == set(API_TABLE)
    for phase in phases:
        assert health("WorkflowRun", run(phase))[0] == API_TABLE[phase], phase


def test_definitions_schedules_and_triggers_share_one_script():
    shared = (SCRIPTS / "NodeDefinition" / "health.lua").read_text()
    assert (SCRIPTS / "Workflow" / "health.lua").read_text() == shared
    assert (SCRIPTS / "WorkflowSchedule" / "health.lua").read_text() == shared
    assert (SCRIPTS / "WorkflowTrigger" / "health.lua").read_text() == shared


def test_the_argocd_cm_patch_embeds_the_scripts_verbatim():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert (patch["kind"], patch["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    expected = {
        f"resource.customizations.health.drift.dev_{kind}": (SCRIPTS / kind / "health.lua").read_text()
        for kind in KINDS
    }
    assert patch["data"] == expected, "regenerate it: gitops/argocd/build-argocd-cm.sh"


def test_scripts_use_only_lua_5_1_and_no_libraries_outside_argo_cds_sandbox():
    for kind in KINDS:
        text = (SCRIPTS / kind / "health.lua").read_text()
        for forbidden in ("require", "os.", "io.", "goto", "//", "load(", "dofile"):
            assert forbidden not in text, f"{kind}: {forbidden}"
