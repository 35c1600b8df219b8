"""Every sample in config/samples/ reaches the phase its `drift.dev/expected-phase` annotation documents."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import yaml

from tests.conftest import REPO_ROOT, kubectl
from tests.e2e.conftest import sample_documents

SAMPLES = sorted((REPO_ROOT / "config" / "samples").glob("*.yaml"))
pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")


def test_there_are_samples_of_every_kind():
    kinds = {doc["kind"] for path in SAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc}
    assert kinds == {"NodeDefinition", "Workflow", "WorkflowRun", "WorkflowSchedule"}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_sample_reaches_its_documented_phase(sample, namespace, samples_backend):
    """A WorkflowRun's annotation names its phase; a WorkflowSchedule's, the phase of the run a fire starts."""
    documents = sample_documents(sample, namespace, samples_backend.url)
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    expected = [(doc, doc["metadata"]["annotations"]["drift.dev/expected-phase"]) for doc in documents
                if doc["kind"] in ("WorkflowRun", "WorkflowSchedule")]  # fmt: skip
    assert expected, f"{sample.name} has no WorkflowRun nor WorkflowSchedule"
    for doc, phase in expected:
        name = doc["metadata"]["name"] if doc["kind"] == "WorkflowRun" else fired(namespace, doc["metadata"]["name"])
        kubectl("wait", f"wfr/{name}", "-n", namespace, "--timeout=90s", f"--for=jsonpath={{.status.phase}}={phase}")


def fired(namespace: str, schedule: str) -> str:
    """Fire the schedule now (Temporal's trigger, as its sample says to try it); the run it started."""
    kubectl("wait", f"wfs/{schedule}", "-n", namespace, "--for=condition=Ready", "--timeout=60s")
    sid, address = f"drift/{namespace}/{schedule}", os.environ["DRIFT_TEMPORAL_ADDRESS"]
    subprocess.run(["temporal", "schedule", "trigger", "--schedule-id", sid, "--address", address], check=True)
    selector = ("get", "wfr", "-n", namespace, "-l", f"drift.dev/schedule={schedule}", "-o", "name")
    deadline = time.monotonic() + 60
    while not (names := kubectl(*selector).stdout.split()):
        assert time.monotonic() < deadline, f"no run of schedule {schedule} after its trigger"
        time.sleep(0.5)
    return names[0].removeprefix("workflowrun.drift.dev/")
