"""A run's close read from its close event alone (drift.run_observation.closed_by)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import (
    HistoryEvent,
    WorkflowExecutionCompletedEventAttributes,
    WorkflowExecutionContinuedAsNewEventAttributes,
    WorkflowExecutionFailedEventAttributes,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from drift.run_contract import RunSnapshot
from drift.run_observation import Execution, closed_by

CLOSED_AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
RESULT = RunSnapshot(sequence=9, phase="Failed", nodes_completed=2, output={"refunded": 120}, finished_at=CLOSED_AT)


def _event(status: str, **attributes: object) -> HistoryEvent:
    event = HistoryEvent(event_type=EventType.Value(f"EVENT_TYPE_WORKFLOW_EXECUTION_{status}"), **attributes)
    event.event_time.FromDatetime(CLOSED_AT)
    return event


async def test_a_completed_execution_carries_its_result():
    result = await pydantic_data_converter.encode_wrapper([RESULT])
    event = _event("COMPLETED", workflow_execution_completed_event_attributes=WorkflowExecutionCompletedEventAttributes(
        result=result))  # fmt: skip
    assert await closed_by(event, pydantic_data_converter) == Execution("COMPLETED", CLOSED_AT, RESULT, None)


async def test_a_failed_execution_carries_its_failure_as_workflow_failure_errors_cause_reads():
    failure = Failure()
    await pydantic_data_converter.encode_failure(ApplicationError("card declined", type="Declined"), failure)
    event = _event("FAILED", workflow_execution_failed_event_attributes=WorkflowExecutionFailedEventAttributes(
        failure=failure))  # fmt: skip
    assert await closed_by(event, pydantic_data_converter) == Execution(
        "FAILED", CLOSED_AT, None, "Declined: card declined"
    )


@pytest.mark.parametrize("status", ["TIMED_OUT", "CANCELED", "TERMINATED"])
async def test_other_closes_carry_their_status_and_time(status: str):
    assert await closed_by(_event(status), pydantic_data_converter) == Execution(status, CLOSED_AT, None, None)


async def test_a_run_continued_as_new_goes_on():
    continued = WorkflowExecutionContinuedAsNewEventAttributes(new_execution_run_id="next")
    event = _event("CONTINUED_AS_NEW", workflow_execution_continued_as_new_event_attributes=continued)
    assert await closed_by(event, pydantic_data_converter) == Execution(None, None, None, None)
