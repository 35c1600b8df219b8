"""The stack's own processes: their pids (from the stack's state folder) and what /proc says of them."""

from __future__ import annotations

import os
from pathlib import Path

from drift_devstack.config import load_config
from drift_devstack.process import ProcessManager


def stack_pids(*names: str) -> dict[str, int]:
    """The pids of the running stack's services (DRIFT_STACK_DIR); RuntimeError if one is not running."""
    processes = ProcessManager(load_config())
    pids = {name: processes.pid(name) for name in names}
    missing = [name for name, pid in pids.items() if pid is None]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not running in this stack (make bench, chaos and soak start them)")
    return {name: pid for name, pid in pids.items() if pid is not None}


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
