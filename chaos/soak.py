"""`make soak`: SOAK_RUNS WorkflowRuns (default 10,000) of the chaos workload, created at an even rate over
SOAK_MINUTES (default 30) on a stack of its own, every other one with a short `ttlSecondsAfterFinished`.

While they run it samples the RSS of the stack's operator and worker and the runs' progress; once they have
ended (and the TTL runs have been deleted) it checks every run as `make chaos` does, one context row in HBase
per started run, the TTL deletions, and measures the runs kept in etcd. Prints the table, writes it into the
README with the default parameters, exits 1 if a check failed (the memory slopes are reported, not checked).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kubernetes import config
from kubernetes.client.rest import ApiException

from bench.kube_objects import GROUP, VERSION

from .checks import check
from .counter import CountingServer
from .memory import trend
from .report import publish
from .run_watch import RunWatch
from .runs import REQUEST_TIMEOUT, Batch
from .scenario import workload_namespace
from .soak_checks import end_lags, retention
from .soak_report import MARKERS, Soak, table
from .soak_sampler import SAMPLE_SECONDS, SERVICES, Sampler
from .workload import run_manifest, runs

log = logging.getLogger("chaos")
RUNS, MINUTES = 10_000, 30.0
TTL_SECONDS = 60
SENDERS = 4
"""Creates (and answers) in flight at once: a slow API server does not slow the even rate down."""
STUCK_SECONDS = 180.0
"""Once every run is created, the soak waits for their ends (then for the TTL deletions) as long as one more
comes at least this often; a run not at its end (a TTL run not deleted) when it stops waiting fails."""


def _create(batch: Batch, manifest: dict, created: list[str]) -> None:
    """Create one run, trying three times, and add it to `created`; an "already exists" (an earlier try that
    timed out) counts."""
    name = manifest["metadata"]["name"]
    for _ in range(3):
        try:
            batch.api.create_namespaced_custom_object(GROUP, VERSION, batch.namespace, "workflowruns", manifest,
                                                      _request_timeout=REQUEST_TIMEOUT)  # fmt: skip
            created.append(name)
            return
        except ApiException as exc:
            if exc.status == 409:
                created.append(name)
                return
            log.warning("creating %s: %s", name, exc.reason)
        except Exception as exc:  # noqa: BLE001 - a slow API server: try again
            log.warning("creating %s: %s", name, exc)
        time.sleep(1)


def _wait(batch: Batch, left: Callable[[], int]) -> bool:
    """Until `left()` is 0 (True), or STUCK_SECONDS pass without it going down (False); meanwhile answers the
    instructions a failed patch left unanswered."""
    fewest, since = left(), time.monotonic()
    while fewest:
        if time.monotonic() - since > STUCK_SECONDS:
            return False
        batch.answer_waiting()
        time.sleep(2)
        if (now := left()) < fewest:
            fewest, since = now, time.monotonic()
    return True


def soak(count: int, minutes: float, server: CountingServer) -> Soak:
    """Create the runs at an even rate, wait for their ends and TTL deletions, then measure and check."""
    answers, creates = ThreadPoolExecutor(SENDERS, "answer"), ThreadPoolExecutor(SENDERS, "create")
    batch = Batch(workload_namespace("soak", server), runs(count), pool=answers)
    with_ttl = {name for i, name in enumerate(batch.expected) if i % 2}
    created: list[str] = []
    interval = minutes * 60 / count
    log.info("soak: %d runs over %.1f min in %s", count, minutes, batch.namespace)
    with RunWatch(batch) as watch, Sampler(batch, lambda: len(created)) as sampler, answers:
        began = time.monotonic()
        with creates:
            for i, (name, expected) in enumerate(batch.expected.items()):
                time.sleep(max(0.0, began + i * interval - time.monotonic()))
                manifest = run_manifest(batch.namespace, name, expected, TTL_SECONDS if name in with_ttl else None)
                creates.submit(_create, batch, manifest, created)
        last = time.monotonic()
        ended = _wait(batch, lambda: len(created) - len(batch.finished()))
        all_done = time.monotonic() - last if ended else None
        log.info("soak: all created %.0f s ago, %s", time.monotonic() - last, "all ended" if ended else "not all ended")
        expiring = with_ttl & set(created)
        _wait(batch, lambda: len(expiring - set(watch.deleted)))
    log.info("soak: checking every run")
    checking = time.monotonic()
    verdict = check(batch, server.calls(batch.namespace))
    kept = retention(batch, watch.deleted, expiring, TTL_SECONDS)
    log.info("soak: checked in %.0f s", time.monotonic() - checking)
    samples = sampler.samples
    return Soak(
        runs=count, created=len(created), create_seconds=last - began, ttl_seconds=TTL_SECONDS,
        all_done_seconds=all_done, end_lags=end_lags(batch, watch.ended),
        peak_unfinished=max(s.created - s.finished for s in samples),
        peak_waiting=max(s.waiting for s in samples), sample_seconds=SAMPLE_SECONDS, samples=len(samples),
        verdict=verdict, retention=kept, exited=sorted(sampler.exited),
        memory={name: trend(sampler.points(name)) for name in SERVICES if sampler.points(name)},
    )  # fmt: skip


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    config.load_kube_config()
    count = int(os.environ.get("SOAK_RUNS") or RUNS)
    minutes = float(os.environ.get("SOAK_MINUTES") or MINUTES)
    with CountingServer() as server:
        result = soak(count, minutes, server)
    if (count, minutes) == (RUNS, MINUTES):
        publish(table(result), "make soak", MARKERS)
    else:
        print(table(result))
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
