"""Loopback ports: pinned by the user or picked free once, then kept for the life of the stack."""

from __future__ import annotations

import json
import random
import socket

from .config import DEFAULT_PORTS, LOW_PORTS, PORT_VARIABLES, StackConfig
from .errors import StackError


def port_in_use(port: int) -> bool:
    """True if something already listens on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port(taken: set[int], low: bool = False) -> int:
    """A free port: the kernel's pick, or with `low` one below its ephemeral range (below 32768)."""
    while True:
        wanted = random.randint(20000, 32767) if low else 0  # noqa: S311 (a port, not a secret)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", wanted))
            except OSError:
                continue
            port = sock.getsockname()[1]
        if port not in taken:
            return port


def allocate(config: StackConfig) -> dict[str, int]:
    """The stack's ports: those saved by a running stack, else pinned ones plus fresh free ones (a stack
    saved by an older version gets the ports it lacks)."""
    saved = config.run_dir / "ports.json"
    ports: dict[str, int] = json.loads(saved.read_text()) if saved.exists() else {}
    if all(name in ports for name in PORT_VARIABLES):
        return ports
    for name in PORT_VARIABLES:
        taken = set(ports.values()) | set(DEFAULT_PORTS.values())
        pinned = ports.get(name) or config.pinned_ports.get(name) or DEFAULT_PORTS.get(name)
        ports[name] = pinned or _free_port(taken, low=name in LOW_PORTS)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(ports, indent=2))
    return ports


def release(config: StackConfig) -> None:
    """Forget the saved ports (after the whole stack stopped)."""
    (config.run_dir / "ports.json").unlink(missing_ok=True)


def ensure_free(ports: dict[str, int], *names: str) -> None:
    """Fail with a one-line error if a port a service is about to bind is taken by another process."""
    for name in names:
        if port_in_use(ports[name]):
            raise StackError(
                f"{name}: port {ports[name]} on 127.0.0.1 is already in use "
                f"(stop its owner, or set {PORT_VARIABLES[name]} to a free port)"
            )
