"""`DriftScheduleFire`'s golden histories replay on the current code (pure: no stack needed).

A fire lives as long as the run it waits for, so a change to `drift_operator.schedule_fire` must replay
the fires in flight: guard it with `workflow.patched`, as the interpreter does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from drift_operator.schedule_fire import ScheduleFire

from .record_schedule_fire import HISTORIES, OUTCOMES

GOLDENS = sorted(HISTORIES.glob("*.json"))


def test_there_is_a_golden_per_outcome():
    assert {path.stem for path in GOLDENS} == set(OUTCOMES)


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"golden/{path.stem}", path.read_text())


@pytest.mark.parametrize("path", GOLDENS, ids=[path.stem for path in GOLDENS])
async def test_golden_fire_replays(path: Path):
    replayer = Replayer(workflows=[ScheduleFire], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
