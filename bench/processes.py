"""The stack's own processes: their pids (from the stack's state folder) and what /proc says of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from drift_devstack.config import load_config
from drift_devstack.ports import allocate
from drift_devstack.process import ProcessManager


def stack_pids(*names: str) -> dict[str, int]:
    """The pids of the running stack's services (DRIFT_STACK_DIR); RuntimeError if one is not running."""
    processes = ProcessManager(load_config())
    pids = {name: processes.pid(name) for name in names}
    missing = [name for name, pid in pids.items() if pid is None]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not running in this stack (make bench, chaos and soak start them)")
    return {name: pid for name, pid in pids.items() if pid is not None}


def stack_port(name: str) -> int:
    """The loopback port of the running stack's `name` (e.g. "drift-operator-metrics")."""
    return allocate(load_config())[name]


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process in MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack(*args: str) -> None:
    """The stack tool on the running stack (DRIFT_STACK_DIR from its env file), e.g. `stack("up", "redis")`."""
    command = [sys.executable, "-m", "drift_devstack", "--state-dir", os.environ["DRIFT_STACK_DIR"], *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
