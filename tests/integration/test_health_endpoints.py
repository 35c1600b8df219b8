"""Liveness and readiness of the real operator and worker processes while a backend goes away and comes back."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import DriftProcess, stack_command

pytestmark = pytest.mark.stack


def probe(process: DriftProcess, path: str) -> tuple[int, str]:
    """(HTTP status, body) of GET `path` on the process's endpoint."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for_readiness(process: DriftProcess, ready: bool, timeout: float = 90) -> dict[str, str]:
    """Poll /readyz until it says `ready`; its per-backend answer."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = probe(process, "/readyz")
        if (status == 200) == ready:
            return json.loads(body)
        assert time.monotonic() < deadline, f"/readyz still {status} {body}"
        time.sleep(0.5)


def test_both_processes_are_ready_when_every_backend_answers(drift_operator, drift_worker):
    for process in (drift_operator, drift_worker):
        assert probe(process, "/healthz") == (200, "ok")
        assert wait_for_readiness(process, ready=True) == {"redis": "ok", "hbase": "ok", "temporal": "ok"}


@pytest.mark.parametrize(("service", "backend"), [("redis", "redis"), ("hbase-thrift", "hbase")])
def test_a_stopped_backend_turns_readiness_false_and_leaves_liveness_true(
    drift_operator, drift_worker, stack_env, service, backend
):
    for process in (drift_operator, drift_worker):
        wait_for_readiness(process, ready=True)
    stack_command(stack_env, "down", service)
    try:
        for process in (drift_operator, drift_worker):
            answer = wait_for_readiness(process, ready=False, timeout=30)
            assert answer[backend] != "ok", answer
            assert {name for name, state in answer.items() if state != "ok"} == {backend}
            assert probe(process, "/healthz") == (200, "ok"), "a backend outage must not fail liveness"
        time.sleep(3)  # the processes keep retrying: still alive a while into the outage
        for process in (drift_operator, drift_worker):
            assert probe(process, "/healthz") == (200, "ok")
            assert process.process is not None
            assert process.process.poll() is None
    finally:
        stack_command(stack_env, "up", service)
    for process in (drift_operator, drift_worker):
        wait_for_readiness(process, ready=True)
