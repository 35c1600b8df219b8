"""What a soak samples every SAMPLE_SECONDS: the RSS of the stack's operator and worker, and its runs' progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.processes import rss_mib, stack_pids

from .background import Background
from .runs import Batch

log = logging.getLogger("chaos")
SERVICES = ("drift-operator", "drift-worker")
SAMPLE_SECONDS = 12.0


@dataclass(frozen=True)
class Sample:
    seconds: float
    """Since the sampling started."""
    rss: dict[str, float]
    """Service -> MiB; a service that has exited is missing."""
    created: int
    finished: int
    waiting: int


class Sampler(Background):
    """A thread taking a sample at once, then every SAMPLE_SECONDS while the `with` block runs, and at its end."""

    def __init__(self, batch: Batch, created: Callable[[], int]) -> None:
        super().__init__("sampler")
        self.batch = batch
        self.created = created
        self.pids = stack_pids(*SERVICES)
        self.samples: list[Sample] = []
        self.exited: set[str] = set()
        self._began = time.monotonic()

    def __exit__(self, *_: object) -> None:
        super().__exit__()
        self._take()

    def loop(self) -> None:
        while True:
            self._take()
            if self.stopping.wait(SAMPLE_SECONDS):
                return

    def _take(self) -> None:
        rss = {}
        for name, pid in self.pids.items():
            try:
                rss[name] = rss_mib(pid)
            except OSError:
                if name not in self.exited:
                    log.error("%s (pid %d) has exited", name, pid)
                self.exited.add(name)
        statuses = [self.batch.status(name) for name in self.batch.expected]
        finished = len(self.batch.finished())
        waiting = sum(1 for status in statuses if status.get("phase") == "Waiting")
        sample = Sample(time.monotonic() - self._began, rss, self.created(), finished, waiting)
        self.samples.append(sample)
        log.info("%4.0fs: %d created, %d finished, %d waiting; %s", sample.seconds, sample.created, finished, waiting,
                 ", ".join(f"{name} {mib:.1f} MiB" for name, mib in rss.items()))  # fmt: skip

    def points(self, service: str) -> list[tuple[float, float]]:
        """(seconds, MiB) of one service."""
        return [(s.seconds, s.rss[service]) for s in self.samples if service in s.rss]
