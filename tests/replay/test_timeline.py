"""`kubectl drift describe`'s timeline recovers every node execution from the golden histories (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from drift_cli.timeline import replayed_nodes

HISTORIES = Path(__file__).parent / "histories"
LOOP = [*(["count", "again"] * 600), "after"]
"""The node executions of the `continued-as-new` scenarios: 1201, across a continue-as-new."""
TOGETHER = ("continued-as-new-pure-nodes-together", "continued-as-new-pure-nodes-together-2")


def _chain(*stems: str) -> list[WorkflowHistory]:
    return [WorkflowHistory.from_json(f"golden/{stem}", (HISTORIES / f"{stem}.json").read_text()) for stem in stems]


@pytest.mark.parametrize(
    ("stems", "names"),
    [
        pytest.param(("continued-as-new", "continued-as-new-2"), LOOP, id="a persist after every node"),
        pytest.param(TOGETHER, LOOP, id="pure nodes persisted together"),
        pytest.param(("pure-nodes-persisted-together",), ["a", "b", "route", "post", "c", "ask", "done"], id="mixed"),
    ],
)
async def test_every_node_execution_is_recovered(stems: tuple[str, ...], names: list[str]):
    nodes = await replayed_nodes(_chain(*stems), pydantic_data_converter)
    assert [node["name"] for node in nodes] == names
    assert all(node["phase"] == "Succeeded" for node in nodes)
