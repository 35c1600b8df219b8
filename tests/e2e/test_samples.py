"""Every sample in config/samples/ reaches the phase its `drift.dev/expected-phase` annotation documents."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time

import httpx
import pytest
import yaml

from tests.conftest import REPO_ROOT, kubectl
from tests.e2e.conftest import sample_documents

SAMPLES = sorted((REPO_ROOT / "config" / "samples").glob("*.yaml"))
pytestmark = pytest.mark.usefixtures("drift_operator", "drift_worker")


def test_there_are_samples_of_every_kind():
    kinds = {doc["kind"] for path in SAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc}
    assert kinds == {"NodeDefinition", "Workflow", "WorkflowRun", "WorkflowSchedule", "WorkflowTrigger", "Secret"}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_sample_reaches_its_documented_phase(sample, namespace, samples_backend, request):
    """A WorkflowRun's annotation names its phase; a WorkflowSchedule's, the phase of the run a fire starts; a
    WorkflowTrigger's, the phase of the run its sample event starts (a trigger without one, like the order
    flow's stand-in payment service, is exercised by the runs of the others)."""
    documents = sample_documents(sample, namespace, samples_backend.url)
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    expected = [(doc, annotations["drift.dev/expected-phase"]) for doc in documents
                if "drift.dev/expected-phase" in (annotations := doc["metadata"].get("annotations") or {})]  # fmt: skip
    assert expected, f"{sample.name} has no WorkflowRun, WorkflowSchedule nor WorkflowTrigger"
    for doc, phase in expected:
        if doc["kind"] == "WorkflowTrigger":
            name = posted(request.getfixturevalue("drift_events").receiver_url, namespace, doc)
        elif doc["kind"] == "WorkflowSchedule":
            name = fired(namespace, doc["metadata"]["name"])
        else:
            name = doc["metadata"]["name"]
        kubectl("wait", f"wfr/{name}", "-n", namespace, "--timeout=90s", f"--for=jsonpath={{.status.phase}}={phase}")


def posted(receiver_url: str, namespace: str, trigger: dict) -> str:
    """Post the trigger's sample event (structured mode, its Secret's token) once it is served; the run."""
    name = trigger["metadata"]["name"]
    event = {"specversion": "1.0", **json.loads(trigger["metadata"]["annotations"]["drift.dev/sample-event"])}
    secret = trigger["spec"]["source"]["cloudEvents"]["auth"]["tokenSecretRef"]
    token = base64.b64decode(kubectl("get", "secret", secret["name"], "-n", namespace, "-o",
                                     f"jsonpath={{.data.{secret['key']}}}").stdout).decode()  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents+json"}
    url = f"{receiver_url}/triggers/{namespace}/{name}"
    deadline = time.monotonic() + 60
    while (answer := httpx.post(url, json=event, headers=headers)).status_code == 404:  # not served yet
        assert time.monotonic() < deadline, f"trigger {name} never served"
        time.sleep(0.5)
    assert answer.status_code == 202, answer.text
    run = answer.json()["run"]
    while kubectl("get", "wfr", run, "-n", namespace, check=False).returncode != 0:  # recorded (runs.record: All)
        assert time.monotonic() < deadline + 60, f"run {run} never recorded"
        time.sleep(0.5)
    return run


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
