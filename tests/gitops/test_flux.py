"""The Flux examples parse, and health-check the three kinds the way gitops/README.md describes."""

from __future__ import annotations

import yaml

from tests.conftest import REPO_ROOT

FLUX = REPO_ROOT / "gitops" / "flux"


def _documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((FLUX / name).read_text()) if doc]


def test_kustomizations_wait_for_definitions_and_health_check_the_three_kinds():
    kustomizations = {doc["metadata"]["name"]: doc for doc in _documents("kustomizations.yaml")}
    assert {doc["apiVersion"] for doc in kustomizations.values()} == {"kustomize.toolkit.fluxcd.io/v1"}
    assert kustomizations["drift"]["spec"]["wait"] is True
    assert kustomizations["support-workflows"]["spec"]["wait"] is True
    runs = kustomizations["support-smoke-runs"]["spec"]
    assert "wait" not in runs  # healthChecks are ignored when wait is true
    assert {(c["apiVersion"], c["kind"]) for c in runs["healthChecks"]} == {
        ("drift.dev/v1alpha1", "NodeDefinition"),
        ("drift.dev/v1alpha1", "Workflow"),
        ("drift.dev/v1alpha1", "WorkflowRun"),
    }


def test_the_helm_release_updates_crds_on_install_and_upgrade():
    release = next(doc for doc in _documents("drift-release.yaml") if doc["kind"] == "HelmRelease")
    assert release["spec"]["install"]["crds"] == "CreateReplace"
    assert release["spec"]["upgrade"]["crds"] == "CreateReplace"
    assert release["spec"]["chart"]["spec"]["chart"] == "./charts/drift"
