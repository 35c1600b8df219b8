"""Shared fixtures: the running local stack's endpoints (from its env file) and clients for each service."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
STACK_VARIABLES = ("KUBECONFIG", "DRIFT_TEMPORAL_ADDRESS", "DRIFT_REDIS_URL", "DRIFT_HBASE_HOST", "DRIFT_HBASE_PORT")


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, raw = line.removeprefix("export ").partition("=")
            values[key] = " ".join(shlex.split(raw)).replace("$PATH", os.environ.get("PATH", ""))
    return values


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """The stack's variables: from the environment (`make test`), else from `.dev/test/env`."""
    if all(os.environ.get(name) for name in STACK_VARIABLES):
        return dict(os.environ)
    env_file = Path(os.environ.get("DRIFT_STACK_DIR") or REPO_ROOT / ".dev" / "test") / "env"
    if not env_file.exists():
        pytest.fail(f"no running stack: {env_file} is missing (start one with `make test-up`)")
    env = {**os.environ, **_read_env_file(env_file)}
    os.environ.update(env)
    return env


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the stack's kubectl; with `check`, fail the test on a non-zero exit, showing stderr."""
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result


def stack_command(stack_env: dict[str, str], *args: str) -> None:
    """Run the stack tool on the running test stack (e.g. `down redis`, `restart hbase`); fail on error."""
    command = [sys.executable, "-m", "drift_devstack", "--state-dir", stack_env["DRIFT_STACK_DIR"], *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"drift_devstack {' '.join(args)}: {result.stderr}"


@pytest.fixture(scope="session")
def crds_installed(stack_env: dict[str, str]) -> None:
    """Drift's CRDs applied (server-side, so re-applying is harmless), established and in the OpenAPI spec."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    plurals = ("nodedefinitions", "workflows", "workflowruns", "workflowschedules", "workflowtriggers")
    crds = [f"crd/{name}.drift.dev" for name in plurals]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *crds)
    deadline = time.monotonic() + 60
    while kubectl("explain", "workflowrun.spec", check=False).returncode != 0:  # OpenAPI publishing lags a bit
        assert time.monotonic() < deadline, "the CRDs never appeared in the API server's OpenAPI spec"
        time.sleep(0.5)


class DriftProcess:
    """A real Drift process (`drift_operator.main` or `drift_worker.main`) against the stack, logging to a file."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path, **settings: str) -> None:
        self.module = module
        self.log_path = log_path
        self.port = free_port()
        self.env = {**env, **settings, "DRIFT_METRICS_PORT": str(self.port)}
        self.process: subprocess.Popen[bytes] | None = None
        self.receiver_url = ""
        """drift-events only: its CloudEvents receiver."""

    def start(self, timeout: float = 90) -> None:
        """Start it and wait for /healthz (its Temporal worker or kopf running); kill it if that never comes."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not self._healthy():
            assert self.process.poll() is None, f"{self.module} exited; see {self.log_path}"
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{self.module} did not become healthy in {timeout:.0f}s; see {self.log_path}")
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: a crash, no clean-up."""
        if self.process:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            return response.read().decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


E2E_TARGET = os.environ.get("DRIFT_E2E_TARGET", "processes")
"""`processes` (default): the operator and the worker run as local processes the fixtures start; `cluster`:
they are the pods of the chart's release on the stack's node (`make test-cluster`, tests/e2e/cluster.py)."""


@pytest.fixture(scope="session")
def drift_release(stack_env, crds_installed) -> None:
    """With DRIFT_E2E_TARGET=cluster: the chart installed with the stack's values, both Deployments Available."""
    from tests.e2e import cluster  # noqa: PLC0415 - only the cluster target needs Helm

    if not cluster.installed():
        cluster.install(stack_env)


@pytest.fixture(scope="module")
def drift_operator(stack_env, crds_installed, tmp_path_factory, request) -> Iterator[DriftProcess]:
    """A running operator for the module's tests (its log: `operator.log` in the module's temp folder)."""
    if E2E_TARGET == "cluster":
        yield from _component(request, "operator")
        return
    process = DriftProcess("drift_operator.main", stack_env, tmp_path_factory.mktemp("operator") / "operator.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def drift_worker(stack_env, tmp_path_factory, request) -> Iterator[DriftProcess]:
    """A running worker on the stack's task queue and tables (its log: `worker.log` in a temp folder)."""
    if E2E_TARGET == "cluster":
        yield from _component(request, "worker")
        return
    process = DriftProcess("drift_worker.main", stack_env, tmp_path_factory.mktemp("worker") / "worker.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def drift_events(stack_env, crds_installed, tmp_path_factory) -> Iterator[DriftProcess]:
    """A running drift-events for the module's tests; its CloudEvents receiver at `receiver_url`."""
    if E2E_TARGET == "cluster":
        pytest.skip("drift-events has no image yet: its tests run against the process")
    port = free_port()
    log_path = tmp_path_factory.mktemp("events") / "events.log"
    process = DriftProcess("drift_events.main", stack_env, log_path, DRIFT_EVENTS_PORT=str(port))
    process.receiver_url = f"http://127.0.0.1:{port}"
    process.start()
    yield process
    process.stop()


def _component(request: pytest.FixtureRequest, name: str) -> Iterator:
    """The release's Deployment as a process-like handle; left running with its replicas after the module."""
    from tests.e2e import cluster  # noqa: PLC0415

    request.getfixturevalue("drift_release")
    component = cluster.Component(name)
    component.wait_available()
    yield component
    if len(component.pods()) != component.replicas:
        component.start()
