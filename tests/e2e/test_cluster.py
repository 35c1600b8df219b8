"""What only a cluster shows: the chart's pods as the chart defines them, pods deleted mid-run, `helm upgrade`
to a changed image while runs wait, the single-namespace mode, `helm uninstall`. DRIFT_E2E_TARGET=cluster only.
"""

from __future__ import annotations

import json
import uuid

import pytest

from drift_devstack import images, node
from drift_devstack.config import load_config
from tests.conftest import E2E_TARGET, kubectl
from tests.e2e import cluster
from tests.e2e.test_workflow_runs import apply, definitions, ready, resume, run_manifest, status, wait_for

pytestmark = [
    pytest.mark.skipif(E2E_TARGET != "cluster", reason="needs DRIFT_E2E_TARGET=cluster (make test-cluster)"),
    pytest.mark.usefixtures("drift_operator", "drift_worker"),
]
APPROVE = {"node": "manager-approval", "input": {"choice": "approve"}}


def _pod_spec_matches_the_chart(pod: dict, component: str) -> None:
    spec = pod["spec"]
    assert spec["serviceAccountName"] == f"{cluster.RELEASE}-{component}"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 65532
    container = spec["containers"][0]
    assert container["image"] == f"drift-{component}:{images.app_version()}"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    state = pod["status"]["containerStatuses"][0]
    assert state["ready"] is True
    if state["restartCount"]:
        name = pod["metadata"]["name"]
        previous = kubectl("logs", "-n", cluster.RELEASE_NAMESPACE, name, "--previous", check=False)
        pytest.fail(f"{name} restarted: {state.get('lastState')}\n{previous.stdout[-3000:]}{previous.stderr}")


@pytest.mark.parametrize("component", ["operator", "worker"])
def test_pods_run_as_the_chart_defines_them(component):
    deployment = cluster.Component(component)
    pods = deployment.pods()
    assert len(pods) == deployment.replicas
    for pod in pods:
        _pod_spec_matches_the_chart(pod, component)
    name = pods[0]["metadata"]["name"]
    probe = "import os; print(os.getuid(), os.getgid()); open('/opt/drift/probe', 'w')"
    result = kubectl("exec", "-n", cluster.RELEASE_NAMESPACE, name, "--", "python", "-c", probe, check=False)
    assert result.stdout.split() == ["65532", "65532"]
    assert "Read-only file system" in result.stderr
    logs = kubectl("logs", "-n", cluster.RELEASE_NAMESPACE, name).stdout
    assert "Forbidden" not in logs, "the chart's RBAC denied something"


def _pause_workflow(namespace: str, seconds: int) -> dict:
    metadata = {"name": "pause", "namespace": namespace}
    return {"apiVersion": "drift.dev/v1alpha1", "kind": "Workflow", "metadata": metadata,
            "spec": {"startAt": "first", "nodes": [
                {"name": "first", "type": "processor", "processor": {"set": {"step": "1"}}, "next": "pause"},
                {"name": "pause", "type": "wait", "wait": {"seconds": seconds}, "next": "done"},
                {"name": "done", "type": "success", "success": {"output": "{'step': context.step}"}}]}}  # fmt: skip


def test_deleting_the_worker_pods_mid_run_the_run_completes(namespace, drift_worker):
    apply(_pause_workflow(namespace, seconds=8))
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflow/pause")
    apply(run_manifest(namespace, "paused", "P-1", workflow="pause"))
    wait_for(namespace, "paused", "jsonpath={.status.currentNode}=pause")
    deleted = drift_worker.delete_pods()
    wait_for(namespace, "paused", "condition=Succeeded", timeout=240)
    assert status(namespace, "paused")["output"] == {"step": 1}
    assert not set(deleted) & {pod["metadata"]["name"] for pod in drift_worker.pods()}


def test_deleting_the_operator_pod_it_is_replaced_and_runs_keep_status(namespace, samples_backend, drift_operator):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    apply(run_manifest(namespace, "before", "A-11"))
    wait_for(namespace, "before", "jsonpath={.status.phase}=Waiting")
    (old,) = drift_operator.delete_pods()
    drift_operator.wait_available()
    (new,) = [pod["metadata"]["name"] for pod in drift_operator.pods()]
    assert new != old
    resume(namespace, "before", APPROVE)
    wait_for(namespace, "before", "condition=Succeeded", timeout=120)
    apply(run_manifest(namespace, "after", "A-12"))
    wait_for(namespace, "after", "jsonpath={.status.phase}=Waiting", timeout=120)


def test_helm_upgrade_to_a_changed_image_while_runs_wait(namespace, samples_backend, stack_env):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    runs = ["wait-1", "wait-2"]
    for index, name in enumerate(runs):
        apply(run_manifest(namespace, name, f"A-2{index}"))
    for name in runs:
        wait_for(namespace, name, "jsonpath={.status.phase}=Waiting")
    config = load_config(stack_env["DRIFT_STACK_DIR"])
    tag = f"{images.app_version()}-changed"
    for component in ("operator", "worker"):
        archive = config.state_dir / f"drift-{component}-changed.tar"
        source = f"drift-{component}:{images.app_version()}"
        node.import_image(config, images.retag(archive, source, f"drift-{component}:{tag}"))
        archive.unlink()
    cluster.helm("upgrade", cluster.RELEASE, str(cluster.CHART), "--namespace", cluster.RELEASE_NAMESPACE,
                 "--reuse-values", "--set", f"operator.image.tag={tag}", "--set", f"worker.image.tag={tag}",
                 "--wait", "--timeout", "8m")  # fmt: skip
    for component in ("operator", "worker"):
        deployment = cluster.Component(component)
        deployment.wait_available()
        assert {pod["spec"]["containers"][0]["image"] for pod in deployment.pods()} == {f"drift-{component}:{tag}"}
    for name in runs:
        resume(namespace, name, APPROVE)
    for name in runs:
        wait_for(namespace, name, "condition=Succeeded", timeout=120)


def _exists(*args: str) -> bool:
    return kubectl("get", *args, check=False).returncode == 0


def test_watch_namespace_mode_works_with_its_roles_only(namespace, samples_backend, stack_env):
    other = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", other)
    try:
        cluster.helm("upgrade", cluster.RELEASE, str(cluster.CHART), "--namespace", cluster.RELEASE_NAMESPACE,
                     "--reuse-values", "--set", f"watchNamespace={namespace}", "--wait", "--timeout", "8m")  # fmt: skip
        for component in ("operator", "worker"):
            cluster.Component(component).wait_available()
        assert not _exists("clusterrole", f"{cluster.RELEASE}-operator")
        assert not _exists("clusterrolebinding", f"{cluster.RELEASE}-operator")
        assert _exists("role", f"{cluster.RELEASE}-operator", "-n", namespace)
        assert _exists("clusterrole", f"{cluster.RELEASE}-operator-crds")
        apply(*definitions(namespace, samples_backend.url))
        ready(namespace)
        apply(run_manifest(namespace, "watched", "A-31"))
        wait_for(namespace, "watched", "jsonpath={.status.phase}=Waiting")
        resume(namespace, "watched", APPROVE)
        wait_for(namespace, "watched", "condition=Succeeded", timeout=120)
        apply(*definitions(other, samples_backend.url))
        apply(run_manifest(other, "unwatched", "A-32"))
        wait_for(namespace, "watched", "condition=Succeeded")  # a round trip: the operator had time to look
        assert status(other, "unwatched") == {}
        assert json.loads(kubectl("get", "wfr", "unwatched", "-n", other, "-o", "json").stdout)["metadata"].get(
            "finalizers"
        ) in (None, [])
    finally:
        cluster.helm("upgrade", cluster.RELEASE, str(cluster.CHART), "--namespace", cluster.RELEASE_NAMESPACE,
                     "--reuse-values", "--set", "watchNamespace=", "--wait", "--timeout", "8m")  # fmt: skip
        kubectl("delete", "namespace", other, "--wait=false")
    assert _exists("clusterrole", f"{cluster.RELEASE}-operator")


def test_helm_uninstall_leaves_the_crds_and_the_resources(namespace, samples_backend, stack_env):
    apply(*definitions(namespace, samples_backend.url))
    ready(namespace)
    apply(run_manifest(namespace, "kept", "A-41"))
    wait_for(namespace, "kept", "jsonpath={.status.phase}=Waiting")
    cluster.helm("uninstall", cluster.RELEASE, "--namespace", cluster.RELEASE_NAMESPACE, "--wait")
    for crd in ("nodedefinitions.drift.dev", "workflows.drift.dev", "workflowruns.drift.dev"):
        assert _exists("crd", crd)
    assert _exists("workflow", "refund-approval", "-n", namespace)
    assert status(namespace, "kept")["phase"] == "Waiting"
    assert not _exists("deployment", f"{cluster.RELEASE}-operator", "-n", cluster.RELEASE_NAMESPACE)
    cluster.install(stack_env)  # reinstalled, the run picks up where it was
    resume(namespace, "kept", APPROVE)
    wait_for(namespace, "kept", "condition=Succeeded", timeout=120)
