"""Every sample in config/samples/ reaches the phase its `drift.dev/expected-phase` annotation documents."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO_ROOT, kubectl
from tests.e2e.conftest import sample_documents

SAMPLES = sorted((REPO_ROOT / "config" / "samples").glob("*.yaml"))
pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")


def test_there_are_samples_of_every_kind():
    kinds = {doc["kind"] for path in SAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc}
    assert kinds == {"NodeDefinition", "Workflow", "WorkflowRun"}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_sample_reaches_its_documented_phase(sample, namespace, samples_backend):
    documents = sample_documents(sample, namespace, samples_backend.url)
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    runs = [doc for doc in documents if doc["kind"] == "WorkflowRun"]
    assert runs, f"{sample.name} has no WorkflowRun"
    for run in runs:
        expected = run["metadata"]["annotations"]["drift.dev/expected-phase"]
        kubectl("wait", f"wfr/{run['metadata']['name']}", "-n", namespace, "--timeout=90s",
                f"--for=jsonpath={{.status.phase}}={expected}")  # fmt: skip
