"""The stack tool's process and port handling, on throw-away processes (no services needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drift_devstack import ports, temporal
from drift_devstack.config import PORT_VARIABLES, StackConfig, load_config
from drift_devstack.errors import StackError
from drift_devstack.process import ProcessManager, ProcessSpec, stray_processes
from drift_devstack.stack import Stack


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    return StackConfig(state_dir=tmp_path, cache_dir=tmp_path / "cache", ready_timeout=5)


def _sleeper(name: str, ready=lambda: True) -> ProcessSpec:
    # A child that forks a grandchild too: stop() must take the whole process group down.
    code = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    return ProcessSpec(name=name, argv=[sys.executable, "-c", code], ready=ready)


def test_start_is_idempotent_and_stop_leaves_no_process(config: StackConfig):
    manager = ProcessManager(config)
    assert manager.start(_sleeper("svc")) is True
    pid = manager.pid("svc")
    assert pid is not None
    assert manager.start(_sleeper("svc")) is False
    assert manager.pid("svc") == pid

    assert manager.stop("svc", timeout=5) is True
    assert manager.pid("svc") is None
    assert not [p for p, cmd in stray_processes(config.state_dir) if p == pid]
    assert manager.stop("svc") is False


def test_kill_takes_the_group_down_at_once_and_start_brings_it_back(config: StackConfig):
    # A service that ignores SIGTERM: stop() would wait its grace period, kill() must not.
    code = (
        "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "subprocess.Popen(['sleep', '300']); time.sleep(300)"
    )
    spec = ProcessSpec(name="svc", argv=[sys.executable, "-c", code], ready=lambda: True)
    manager = ProcessManager(config)
    manager.start(spec)
    pid = manager.pid("svc")
    began = time.monotonic()
    assert manager.kill("svc") is True
    assert time.monotonic() - began < 5
    assert manager.pid("svc") is None
    assert not (config.run_dir / "svc.pid").exists()
    assert not [p for p, _ in stray_processes(config.state_dir) if p == pid]
    assert manager.kill("svc") is False

    assert manager.start(spec) is True
    assert manager.pid("svc") not in (None, pid)
    assert manager.kill("svc") is True


def test_a_service_that_exits_while_starting_names_its_log(config: StackConfig):
    spec = ProcessSpec(name="broken", argv=[sys.executable, "-c", "raise SystemExit(3)"], ready=lambda: False)
    with pytest.raises(StackError, match=r"broken exited with code 3 while starting; see .*broken\.log"):
        ProcessManager(config).start(spec)


def test_a_service_that_never_gets_ready_is_stopped_and_reported(config: StackConfig):
    manager = ProcessManager(StackConfig(state_dir=config.state_dir, cache_dir=config.cache_dir, ready_timeout=1))
    with pytest.raises(StackError, match=r"slow not ready after 1s; see .*slow\.log"):
        manager.start(_sleeper("slow", ready=lambda: False))
    assert manager.pid("slow") is None


def test_processes_of_an_instance_are_found_by_data_folder_or_environment(config: StackConfig):
    pause = [sys.executable, "-c", "import time; time.sleep(60)"]
    by_path = subprocess.Popen([*pause, f"{config.state_dir / 'data'}/marker"])
    by_env = subprocess.Popen(pause, env={**os.environ, "DRIFT_STACK_DIR": str(config.state_dir)})
    try:
        found = {pid for pid, _ in stray_processes(config.state_dir)}
        assert {by_path.pid, by_env.pid} <= found
    finally:
        for process in (by_path, by_env):
            process.kill()
            process.wait()
    assert not stray_processes(config.state_dir)


def test_a_missing_binary_is_one_line(config: StackConfig):
    spec = ProcessSpec(name="ghost", argv=["/nonexistent/ghost-server"], ready=lambda: True)
    with pytest.raises(StackError, match=r"^ghost: cannot run /nonexistent/ghost-server: No such file"):
        ProcessManager(config).start(spec)


def test_a_recycled_pid_is_not_mistaken_for_the_service(config: StackConfig):
    config.run_dir.mkdir(parents=True)
    (config.run_dir / "svc.pid").write_text(f"{os.getpid()} 1\n")  # our pid, but a different start time
    assert ProcessManager(config).pid("svc") is None
    assert not (config.run_dir / "svc.pid").exists()


def test_ports_are_allocated_once_and_pinned_ports_are_kept(tmp_path: Path):
    config = StackConfig(state_dir=tmp_path, cache_dir=tmp_path, pinned_ports={"redis": 6399})
    first = ports.allocate(config)
    assert first["redis"] == 6399
    assert len(set(first.values())) == len(first)
    assert ports.allocate(config) == first
    ports.release(config)
    assert ports.allocate(config)["temporal"] != 0


def test_temporals_membership_ports_fit_the_column_it_stores_them_in(tmp_path: Path):
    # PostgreSQL's cluster_membership.rpc_port is a smallint: a membership port from the kernel's ephemeral range
    # (32768 and up) stops the server at its first heartbeat.
    port_map = ports.allocate(StackConfig(state_dir=tmp_path, cache_dir=tmp_path))
    server = temporal.server_config(port_map, tmp_path / "dynamic-config.yaml")
    services = server["services"]
    assert {name: services[name]["rpc"]["membershipPort"] < 32768 for name in services} == dict.fromkeys(services, True)
    grpc = [services[name]["rpc"]["grpcPort"] for name in ("frontend", "history", "matching", "worker")]
    assert grpc[0] == port_map["temporal"]
    assert len(set(grpc + [services[name]["rpc"]["membershipPort"] for name in services])) == 8


def test_a_port_in_use_names_the_variable_to_change():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(
            StackError, match=rf"redis: port {port} on 127.0.0.1 is already in use .*DRIFT_STACK_REDIS_PORT"
        ):
            ports.ensure_free({"redis": port}, "redis")


def test_a_malformed_port_variable_is_rejected(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DRIFT_STACK_TEMPORAL_PORT", "seven")
    with pytest.raises(ValueError, match="DRIFT_STACK_TEMPORAL_PORT='seven' is not a TCP port"):
        load_config()


def test_a_stacks_env_file_does_not_pin_another_stacks_ports(config: StackConfig, monkeypatch: pytest.MonkeyPatch):
    # `. .dev/env` then `make test` in the same shell: the first stack's client variables are all set.
    port_map = {name: 20000 + index for index, name in enumerate(PORT_VARIABLES)}
    for name, value in Stack(config)._variables(port_map).items():
        monkeypatch.setenv(name, value)
    assert load_config(config.state_dir).pinned_ports == {}
    monkeypatch.setenv("DRIFT_STACK_HBASE_THRIFT_PORT", "20123")
    assert load_config(config.state_dir).pinned_ports == {"hbase-thrift": 20123}
