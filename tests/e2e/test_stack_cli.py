"""The local stack driven as a user drives it: the CLI, the env file, kubectl and temporal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from drift_devstack.config import SERVICES


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)


def _stack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "drift_devstack", *args], env=env)


def test_env_file_gives_kubectl_and_temporal(stack_env):
    env_file = Path(stack_env["DRIFT_STACK_DIR"]) / "env"
    script = (
        f". {env_file} && kubectl get --raw /readyz"
        ' && temporal operator namespace list --address "$DRIFT_TEMPORAL_ADDRESS"'
    )
    result = _run(["bash", "-c", script], env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
    assert "NamespaceInfo.Name" in result.stdout
    assert "default" in result.stdout


def test_helm_is_on_the_env_path(stack_env):
    result = _run(["bash", "-c", f". {Path(stack_env['DRIFT_STACK_DIR']) / 'env'} && helm version --short"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("v3.")


def test_starting_a_running_stack_is_a_no_op(stack_env):
    state_dir = stack_env["DRIFT_STACK_DIR"]
    before = _stack("--state-dir", state_dir, "status").stdout
    result = _stack("--state-dir", state_dir, "up")
    assert result.returncode == 0, result.stderr
    assert "started" not in result.stdout
    assert result.stdout.count("running") == before.count("running") == len(SERVICES)
    assert _stack("--state-dir", state_dir, "status").stdout == before


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        pinned = {**os.environ, "DRIFT_STACK_REDIS_PORT": str(port)}
        result = _stack("--state-dir", str(tmp_path), "up", "redis", env=pinned)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert f"redis: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "DRIFT_STACK_REDIS_PORT" in result.stderr


def test_a_missing_prerequisite_is_a_one_line_error(tmp_path: Path):
    result = _stack("--state-dir", str(tmp_path), "up", "redis", env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "not found on PATH" in result.stderr
    assert "Traceback" not in result.stderr
