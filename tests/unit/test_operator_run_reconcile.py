"""One reconcile of a run: None when nothing is left to retry, else the seconds before it is tried again (fakes
for the definition cache, Temporal and the status writer; what the reconcile returns and writes is under test)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from temporalio.service import RPCError, RPCStatusCode

from drift import run_observation
from drift.errors import BackendUnavailable
from drift.run_events import RunEvents
from drift.run_start import Blocked
from drift_operator import run_reconcile
from drift_operator.run_reconcile import RETRY_SECONDS, attempt, reconcile
from drift_operator.run_registry import RunRegistry

STARTED = {"execution": {"workflowId": "ns/r/u1"}}
UNAVAILABLE = RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")


def run(status: dict | None = None, resume: int = 0) -> dict:
    meta = {"namespace": "ns", "name": "r", "uid": "u1", "generation": 1}
    entries = [{"node": "ask", "input": {"i": i}} for i in range(resume)]
    return {"metadata": meta, "spec": {"workflowRef": {"name": "w"}, "resume": entries}, "status": status or {}}


class Status:
    """A status writer that records what each write and stage was given."""

    def __init__(self) -> None:
        self.writes: list[dict] = []
        self.staged: list[dict] = []

    async def write(self, state, extra=None, **seen) -> None:
        self.writes.append(dict(extra or {}) | seen)

    def stage(self, state, extra, *, hold, **seen) -> None:
        self.staged.append(dict(extra) | seen)


@pytest.fixture
def backends(monkeypatch):
    """(answers, services): each backend call answers (or raises) what `answers` holds under its name; the
    calls are recorded in `answers.calls`."""
    answers = SimpleNamespace(
        pin=SimpleNamespace(version="1", timeout_seconds=None),  # a Ready Workflow
        start="run-1",
        resume=None,  # accepted
        observe=run_observation.Execution(None, None, None, None),  # running
        calls=[],
    )

    def fake(name):
        async def call(*_: object) -> object:
            answers.calls.append(name)
            answer = getattr(answers, name)
            if isinstance(answer, BaseException):
                raise answer
            return answer

        return call

    monkeypatch.setattr(run_reconcile.run_start, "pin", fake("pin"))
    monkeypatch.setattr(run_reconcile.executions, "start", fake("start"))
    monkeypatch.setattr(run_reconcile.executions, "resume", fake("resume"))
    monkeypatch.setattr(run_reconcile.run_observation, "observe", fake("observe"))
    settings = SimpleNamespace(update_timeout_seconds=1.0, temporal=SimpleNamespace(namespace="default"))
    services = SimpleNamespace(
        runs=RunRegistry(), status=Status(), events=RunEvents(), settings=settings, temporal=None, cache=None
    )
    return answers, services


async def test_a_started_run_asks_for_no_retry(backends):
    answers, services = backends
    assert await reconcile(run(resume=1), services, {}, observe=True) is None
    assert answers.calls == ["pin", "start", "resume"]
    (staged,) = services.status.staged
    assert (staged["execution"]["runId"], staged["resumesDelivered"], staged["started"]) == ("run-1", 1, True)


async def test_a_finished_run_is_left_alone(backends):
    answers, services = backends
    assert await reconcile(run({"phase": "Succeeded"}), services, {}, observe=True) is None
    services.runs.track(run({"phase": "Running", **STARTED})).status = {"phase": "Failed", **STARTED}
    assert await reconcile(run({"phase": "Running", **STARTED}), services, {}, observe=True) is None  # a late body
    assert answers.calls == []
    assert services.status.writes == services.status.staged == []


async def test_a_run_whose_workflow_is_not_ready_waits_pending_with_no_retry_delay(backends):
    answers, services = backends
    answers.pin = Blocked("WorkflowNotFound", 'Workflow "w" not found or not Ready')
    assert await reconcile(run(), services, {}, observe=True) is None  # the resync tries it again
    assert answers.calls == ["pin"]
    assert services.status.writes == [{"blocked": "WorkflowNotFound", "detail": 'Workflow "w" not found or not Ready'}]


@pytest.mark.parametrize(
    ("failing", "failure", "blocked"),
    [
        ("pin", BackendUnavailable("HBase", "connection refused"), "HBaseUnavailable"),
        ("start", UNAVAILABLE, "TemporalUnavailable"),
    ],
)
async def test_a_run_not_started_for_a_backend_failure_says_why_and_is_retried(backends, failing, failure, blocked):
    answers, services = backends
    setattr(answers, failing, failure)
    assert await reconcile(run(), services, {}, observe=True) == RETRY_SECONDS
    assert services.status.writes == [{"blocked": blocked, "detail": str(failure)}]
    assert services.status.staged == []


async def test_a_started_run_temporal_does_not_answer_for_is_retried_its_status_unwritten(backends):
    answers, services = backends
    answers.observe = UNAVAILABLE
    assert await reconcile(run({"phase": "Running", **STARTED}), services, {}, observe=True) == RETRY_SECONDS
    assert answers.calls == ["observe"]
    assert services.status.writes == services.status.staged == []


async def test_resume_delivery_waiting_for_the_worker_is_retried_until_it_is_done(backends):
    answers, services = backends
    waiting = {"phase": "Waiting", "resumesDelivered": 0, **STARTED}
    answers.resume = TimeoutError()  # no worker answered in time
    assert await reconcile(run(waiting, resume=2), services, {}, observe=False) == RETRY_SECONDS
    assert services.status.staged[-1]["resumesDelivered"] == 0
    answers.resume = None
    assert await reconcile(run(waiting, resume=2), services, {}, observe=False) is None
    assert services.status.staged[-1]["resumesDelivered"] == 2


async def test_attempt_passes_on_the_delay_asked_for_and_logs_a_failure_raised(backends, caplog):
    answers, services = backends
    answers.pin = BackendUnavailable("Redis", "connection refused")
    with caplog.at_level(logging.WARNING, logger=run_reconcile.__name__):
        assert await attempt(run(), services, {}, observe=True) == RETRY_SECONDS  # asked for by the reconcile
        assert caplog.records == []
        answers.pin = LookupError("a surprise")
        assert await attempt(run(), services, {}, observe=True) == RETRY_SECONDS
    (record,) = caplog.records
    assert record.getMessage() == f"reconcile of ns/r failed unexpectedly; retried in {RETRY_SECONDS:.0f}s"
    assert record.exc_info is not None
