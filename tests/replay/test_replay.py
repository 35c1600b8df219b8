"""Every golden history replays on the current workflow code (pure: no stack needed).

A failure here means a change to `drift_worker.workflow` or a node handler would break runs in flight:
guard it with `workflow.patched` (README, "Changing the interpreter safely").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from drift_worker.main import SANDBOX
from drift_worker.workflow import DriftRunWorkflow

GOLDENS = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"golden/{path.stem}", path.read_text())


def test_there_are_goldens_for_every_node_type_and_lifecycle():
    names = {path.stem for path in GOLDENS}
    node_types = {"http", "script", "branch", "instruction", "processor", "wait", "success", "failure"}
    lifecycles = {"waiting-resumed", "retried", "continued-as-new", "continued-as-new-2"}
    assert node_types | lifecycles | {"resume-redelivered", "large-context-values"} <= names


@pytest.fixture(scope="module")
def replayer() -> Replayer:
    """Replays as the worker runs: the same workflow, sandbox and data converter."""
    return Replayer(
        workflows=[DriftRunWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(restrictions=SANDBOX),
    )


@pytest.mark.parametrize("path", GOLDENS, ids=[path.stem for path in GOLDENS])
async def test_golden_history_replays(replayer: Replayer, path: Path):
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
