"""A stored Workflow this worker cannot parse (a node type from a newer version): retried, then a clear failure."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from drift.stored_definition import StoredDefinition
from drift_worker.activities import UNREADABLE_ATTEMPTS, DriftActivities
from drift_worker.egress import EgressPolicy
from drift_worker.messages import LoadGraph

NEWER = StoredDefinition.build("workflow", "default", "newer", {"startAt": "a", "nodes": [
    {"name": "a", "type": "teleport", "next": "b"}, {"name": "b", "type": "success"}]}, None)  # fmt: skip


class OneVersion:
    """The definition cache's lookup, holding one stored version."""

    async def version(self, kind: str, key: str) -> StoredDefinition | None:
        return NEWER if kind == "workflow" else None


def _attempt(number: int) -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, attempt=number)
    return environment


async def test_an_unreadable_definition_is_retried_then_fails_the_run_with_its_reason():
    activities = DriftActivities(OneVersion(), None, None, None, EgressPolicy())  # type: ignore[arg-type]
    request = LoadGraph(namespace="default", workflow_name="newer", workflow_version=NEWER.version)
    with pytest.raises(ValidationError):  # retried: an upgraded worker may take the run meanwhile
        await _attempt(1).run(activities.load_graph, request)
    with pytest.raises(ApplicationError) as failed:
        await _attempt(UNREADABLE_ATTEMPTS).run(activities.load_graph, request)
    assert failed.value.type == "DEFINITION_UNREADABLE"
    assert failed.value.non_retryable
    assert "cannot be read by this worker: nodes.0.type: Input should be 'http'" in failed.value.message
    await activities.http.aclose()
