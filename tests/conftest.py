"""Shared fixtures: the running local stack's endpoints (from its env file) and clients for each service."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
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


@pytest.fixture(scope="session")
def crds_installed(stack_env: dict[str, str]) -> None:
    """Drift's CRDs applied (server-side, so re-applying is harmless), established and in the OpenAPI spec."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    crds = ("crd/nodedefinitions.drift.dev", "crd/workflows.drift.dev", "crd/workflowruns.drift.dev")
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *crds)
    deadline = time.monotonic() + 60
    while kubectl("explain", "workflowrun.spec", check=False).returncode != 0:  # OpenAPI publishing lags a bit
        assert time.monotonic() < deadline, "the CRDs never appeared in the API server's OpenAPI spec"
        time.sleep(0.5)
