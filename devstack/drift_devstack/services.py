"""Redis: one process (Temporal and its PostgreSQL are in `temporal`)."""

from __future__ import annotations

from . import node, toolchain
from .config import StackConfig
from .probes import redis_pong
from .process import ProcessSpec


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
