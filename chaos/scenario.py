"""One fault: a batch of runs in flight, the service killed (SIGKILL) and restarted, then the checks.

Time to recover: from the moment the restarted service is ready (`up` returned) to the first poll at which
every run of the batch has finished or shows progress in its status since the kill (phase, nodes completed,
the node it waits at, resume entries delivered). 0 when that already held before the restart.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass

from bench.kube_objects import kubectl
from bench.processes import stack

from .checks import Verdict, check
from .counter import CountingServer
from .runs import Batch, poll_until
from .workload import run_manifest, runs, workflows

log = logging.getLogger("chaos")
DOWN_SECONDS = 5.0
"""How long the killed service stays down before it is started again (a pod's restart, roughly)."""
STUCK_SECONDS = 240.0
"""After the restart, a run not finished by then counts as stuck."""


@dataclass(frozen=True)
class Outcome:
    """One fault's measurements."""

    fault: str
    runs: int
    killed_at_progress: int
    """Runs past their first node when the service was killed."""
    restart_seconds: float
    """From the kill to the service ready again (DOWN_SECONDS plus its start)."""
    recover_seconds: float | None
    """None: never recovered before the stuck deadline."""
    all_done_seconds: float | None
    """From the restart to every run finished."""
    verdict: Verdict


def _apply(manifests: list[dict]) -> None:
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))


def workload_namespace(prefix: str, server: CountingServer) -> str:
    """A new namespace `{prefix}-xxxx` with the workload's Workflows calling `server`, once they are Ready."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:4]}"
    kubectl("create", "namespace", namespace)
    _apply(workflows(namespace, server.url))
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflows", "--all")
    return namespace


def run_fault(fault: str, count: int, server: CountingServer) -> Outcome:
    """Start `count` runs, kill `fault` once a quarter of them are past their first node, restart it, wait
    for the batch to end and check it."""
    namespace = workload_namespace(f"chaos-{fault}", server)
    batch = Batch(namespace, runs(count))
    _apply([run_manifest(namespace, name, expected) for name, expected in batch.expected.items()])
    if not poll_until(batch, lambda b: b.progressed() >= count // 4, time.monotonic() + 300, interval=0.5):
        raise RuntimeError(f"{fault}: a quarter of the runs never got past their first node")
    before = batch.signatures()
    killed_at_progress = batch.progressed()
    killed = time.monotonic()
    stack("kill", fault)
    log.info("%s killed with %d/%d runs under way, %d finished", fault, killed_at_progress, count,
             len(batch.finished()))  # fmt: skip
    poll_until(batch, lambda b: False, killed + DOWN_SECONDS)
    stack("up", fault)
    restarted = time.monotonic()
    log.info("%s ready again %.1fs after the kill", fault, restarted - killed)

    def recovered(b: Batch) -> bool:
        now, finished = b.signatures(), b.finished()
        return all(name in finished or now[name] != before[name] for name in b.expected)

    recover = all_done = None
    deadline = restarted + STUCK_SECONDS
    if poll_until(batch, recovered, deadline):
        recover = max(0.0, time.monotonic() - restarted)
        if poll_until(batch, lambda b: len(b.finished()) == count, deadline):
            all_done = time.monotonic() - restarted
    verdict = check(batch, server.calls(namespace))
    log.info("%s: recovered in %s s, all finished in %s s; %s", fault, recover, all_done,
             "; ".join(verdict.failures) or "all checks passed")  # fmt: skip
    return Outcome(fault, count, killed_at_progress, restarted - killed, recover, all_done, verdict)
