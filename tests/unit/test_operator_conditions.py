"""The conditions helper: observedGeneration stamped, lastTransitionTime moved only on a status change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drift.conditions import Desired, definition_conditions, set_conditions

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def _ready(status: str, reason: str = "Synced", at: str = "2026-01-01T00:00:00Z", generation: int = 1) -> dict:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": "",
        "lastTransitionTime": at,
        "observedGeneration": generation,
    }


@pytest.mark.parametrize(
    ("existing", "desired", "generation", "expected"),
    [
        pytest.param([], Desired("Ready", "True", "Synced"), 1, [_ready("True")], id="new condition at now"),
        pytest.param(
            [_ready("True")],
            Desired("Ready", "True", "Synced"),
            2,
            [_ready("True", generation=2)],
            id="same status keeps the time, stamps the generation",
        ),
        pytest.param(
            [_ready("True")],
            Desired("Ready", "True", "Other"),
            1,
            [_ready("True", reason="Other")],
            id="reason change alone keeps the time",
        ),
        pytest.param(
            [_ready("True")],
            Desired("Ready", "False", "UnknownNodeRef"),
            2,
            [_ready("False", "UnknownNodeRef", "2026-01-02T00:00:00Z", 2)],
            id="status change moves the time",
        ),
        pytest.param(
            [{"type": "Custom", "status": "True", "reason": "X", "lastTransitionTime": "t"}],
            Desired("Ready", "True", "Synced"),
            1,
            [
                {"type": "Custom", "status": "True", "reason": "X", "lastTransitionTime": "t"},
                _ready("True", at="2026-01-02T00:00:00Z"),
            ],
            id="other types are kept, in order",
        ),
    ],
)
def test_set_conditions(existing, desired, generation, expected):
    now = T0 if not existing else T1
    assert set_conditions(existing, [desired], generation, now) == expected


def test_set_conditions_does_not_mutate_its_input():
    existing = [_ready("True")]
    set_conditions(existing, [Desired("Ready", "False", "X")], 3, T1)
    assert existing == [_ready("True")]


@pytest.mark.parametrize(
    ("ready", "reconciling", "expected"),
    [
        pytest.param(True, False, {"Ready": "True", "Reconciling": "False", "Stalled": "False"}, id="synced"),
        pytest.param(False, True, {"Ready": "False", "Reconciling": "True", "Stalled": "False"}, id="working"),
        pytest.param(False, False, {"Ready": "False", "Reconciling": "False", "Stalled": "True"}, id="stalled"),
    ],
)
def test_definition_conditions_never_reconciling_and_stalled(ready, reconciling, expected):
    conditions = definition_conditions(ready, reconciling, "R", "m")
    assert {c.type: c.status for c in conditions} == expected
