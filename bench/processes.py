"""The stack's own processes: their pids (from the stack's state folder) and what /proc says of them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
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


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (the process state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User plus system CPU time a process has used (with `reaped`, also its children that have exited)."""
    fields = _stat(pid)
    ticks = sum(int(field) for field in fields[11 : 15 if reaped else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuMark:
    """CPU seconds used up to one moment: by each running service of the stack (with its child processes, such as
    PostgreSQL's backends), by this process, and by the machine's cores (busy and all)."""

    services: dict[str, float]
    this_process: float
    cores_busy: float
    cores_all: float

    @classmethod
    def now(cls) -> CpuMark:
        config = load_config()
        processes = ProcessManager(config)
        children = _children()
        services = {}
        for pid_file in sorted(config.run_dir.glob("*.pid")):
            pid = processes.pid(pid_file.stem)
            if pid is not None:
                services[pid_file.stem] = _tree_cpu_seconds(pid, children)
        # user nice system idle iowait irq softirq steal (guest time is counted in user and nice already)
        ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        idle = ticks[3] + ticks[4]
        hz = os.sysconf("SC_CLK_TCK")
        return cls(services, cpu_seconds(os.getpid()), (sum(ticks) - idle) / hz, sum(ticks) / hz)


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds used between two marks (`CpuUse.since(mark)`): by service, by this process, and the share of the
    machine's core time that was busy."""

    services: dict[str, float]
    this_process: float
    busy_share: float

    @classmethod
    def since(cls, before: CpuMark) -> CpuUse:
        now = CpuMark.now()
        services = {name: now.services[name] - used for name, used in before.services.items() if name in now.services}
        busy = (now.cores_busy - before.cores_busy) / max(now.cores_all - before.cores_all, 1e-9)
        return cls(services, now.this_process - before.this_process, busy)

    def ms_per(self, count: int, *names: str) -> float:
        """Milliseconds of CPU per one of `count` (runs, resumes) used by the services `names` (all without)."""
        return 1000 * sum(used for name, used in self.services.items() if not names or name in names) / count

    def breakdown(self, count: int) -> str:
        """Each service's (and this process's) milliseconds of CPU per one of `count`, the most first."""
        shares = sorted([*self.services.items(), ("this process", self.this_process)], key=lambda item: -item[1])
        return ", ".join(f"{name} {1000 * used / count:.1f}" for name, used in shares if used * 1000 / count >= 0.1)


def _children() -> dict[int, list[int]]:
    """Every live process's children, by parent pid."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                children.setdefault(int(_stat(entry.name)[1]), []).append(int(entry.name))
    return children


def _tree_cpu_seconds(pid: int, children: dict[int, list[int]]) -> float:
    """CPU seconds of a process, its exited children and its live descendants (0 if it has exited)."""
    try:
        own = cpu_seconds(pid, reaped=True)
    except OSError:
        return 0.0
    return own + sum(_tree_cpu_seconds(child, children) for child in children.get(pid, []))


def stack(*args: str) -> None:
    """The stack tool on the running stack (DRIFT_STACK_DIR from its env file), e.g. `stack("up", "redis")`."""
    command = [sys.executable, "-m", "drift_devstack", "--state-dir", os.environ["DRIFT_STACK_DIR"], *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
