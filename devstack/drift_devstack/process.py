"""Start, watch and stop the stack's background processes, one pid file and one log each."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import StackConfig
from .errors import StackError

Probe = Callable[[], bool]
"""Returns True once the service answers; exceptions count as "not yet"."""


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one service of the stack."""

    name: str
    argv: Sequence[str]
    ready: Probe
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to the inherited environment."""
    cwd: Path | None = None
    stop_timeout: float = 30.0
    """Seconds between SIGTERM and SIGKILL: HBase flushes its memstore on a clean stop."""
    prepare: Callable[[], object] | None = None
    """Run just before the process starts (configuration files, networks), not when the spec is built."""


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (guards against a recycled pid), or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class ProcessManager:
    """Runs services detached (own session) so they outlive the CLI; state lives in `run_dir`."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config

    def _pid_file(self, name: str) -> Path:
        return self.config.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The pid of a running service, or None (stale pid files are removed)."""
        path = self._pid_file(name)
        try:
            pid_text, started = path.read_text().split()
        except (OSError, ValueError):
            return None
        pid = int(pid_text)
        if _start_time(pid) == started:
            return pid
        path.unlink(missing_ok=True)
        return None

    def start(self, spec: ProcessSpec) -> bool:
        """Start `spec` and wait until it is ready; False if it was already running."""
        if self.pid(spec.name) is not None:
            return False
        log_path = self.config.log(spec.name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        if spec.prepare is not None:
            spec.prepare()
        with log_path.open("ab") as log:
            try:
                proc = subprocess.Popen(
                    list(spec.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=spec.cwd,
                    env={**os.environ, **spec.env},
                    start_new_session=True,
                )
            except OSError as exc:
                raise StackError(f"{spec.name}: cannot run {spec.argv[0]}: {exc.strerror}") from None
        self._pid_file(spec.name).write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        self._wait_ready(spec, proc, log_path)
        return True

    def _wait_ready(self, spec: ProcessSpec, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        deadline = time.monotonic() + self.config.ready_timeout
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                self._pid_file(spec.name).unlink(missing_ok=True)
                raise StackError(f"{spec.name} exited with code {code} while starting; see {log_path}")
            with contextlib.suppress(Exception):  # any failure of a probe means "not ready yet"
                if spec.ready():
                    return
            time.sleep(0.2)
        self.stop(spec.name, timeout=5)
        raise StackError(f"{spec.name} not ready after {self.config.ready_timeout:.0f}s; see {log_path}")

    def stop(self, name: str, timeout: float = 30.0) -> bool:
        """SIGTERM the service's whole process group, SIGKILL what is left after `timeout`."""
        return self._signal_group(name, ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)))

    def kill(self, name: str) -> bool:
        """SIGKILL the service's whole process group at once: a crash, no clean shutdown (`start` restarts it)."""
        return self._signal_group(name, ((signal.SIGKILL, 10.0),))

    def _signal_group(self, name: str, steps: Sequence[tuple[signal.Signals, float]]) -> bool:
        """Send each signal to the group in turn until it is gone; False if the service was not running."""
        pid = self.pid(name)
        self._pid_file(name).unlink(missing_ok=True)
        if pid is None:
            return False
        for sig, wait in steps:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                return True
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not _group_members(pid):
                    return True
                time.sleep(0.1)
        raise StackError(f"{name} (pid {pid}) survived SIGKILL")


def _ancestors() -> set[int]:
    """This process and the ones that started it (a shell that sourced the env file is one of them)."""
    chain, pid = set(), os.getpid()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    return chain


def stray_processes(state_dir: Path) -> list[tuple[int, str]]:
    """Live processes of a stack instance: none may be left after a stop.

    A service names the instance's data folder on its command line; Drift's own processes (and those the
    tests start) carry `DRIFT_STACK_DIR` of the instance in their environment, from its env file.
    """
    marker = f"{state_dir / 'data'}/".encode()
    variable = f"DRIFT_STACK_DIR={state_dir}\0".encode()
    skip = _ancestors()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes() + b"\0"
        except OSError:
            continue
        if (marker in cmdline or variable in environ) and _start_time(int(entry.name)) is not None:
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")[:120]))
    return found
