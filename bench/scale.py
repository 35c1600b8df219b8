"""Issue 13's goal 5, opt-in (`make bench BENCH=scale`, about half an hour): the stack's operator holding
SCALE_RUNS (10,000) runs waiting for input and as many finished ones.

- The operator with no runs is measured first (CPU over 30 s, RSS): the baseline of its rows.
- Finished runs are created while the operator is stopped, each with the status of a run of the same Workflow
  that really ran (written through the status subresource). To the operator a finished run is an object it
  only watches, never reconciles, so its cost is what kopf and the operator keep per object.
- The operator is started again, then waiting runs are created 500 at a time (each a real execution on Temporal,
  waiting at an instruction node), the next 500 once 80 % of those created wait: the time every thousandth
  run took from creation to `Waiting` is the start curve.
- With all of them in place: the operator's CPU over 60 s and its RSS; `kubectl get wfr -A --chunk-size=500`
  against the API server's own paged JSON list of the same objects (`kubectl get --raw`); and the status lag of
  goal 3: 50 waiting runs resumed one every 0.25 s (as `run_path` paces them), resume -> `Succeeded` seen,
  p50/p95, against hand-written signals -> results on the same schedule (`run_path.hand_written`).
- Then the operator restarted with all of them in place: from its stop to its /healthz answering (baseline: the
  same restart with no runs, measured first); 50 more waiting runs resumed at the same pace from the moment it
  answers (baseline as above); and from that moment until it knows every run and has compared each started one
  with Temporal (`drift_operator_runs` and `drift_operator_runs_catching_up`; baseline: the same comparison of
  every waiting run, a describe and a `snapshot` query eight at a time, made by hand from the bench); and its
  RSS once caught up (baseline: before the restart; kopf lists the runs in pages of 500).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client, config
from prometheus_client.parser import text_string_to_metric_families

from drift import run_observation
from drift.run_contract import run_workflow_id
from drift.settings import temporal_settings
from drift.temporal_client import connect
from drift_operator.clients import FIRST_SIGHT_OBSERVES

from .kube_objects import GROUP, VERSION, kubectl, resource, workflow
from .operator_status import apply_list, new_namespace, usage, wait_until
from .processes import rss_mib, stack, stack_pids, stack_port
from .report import Result, percentile
from .run_path import PACE_SECONDS, PLURAL, PhaseWatch, hand_written, resume_each

RUNS = int(os.environ.get("SCALE_RUNS", "10000"))
BATCH = 500
RESUMED = 50
CURVE = (1000, RUNS // 2, RUNS)
ASK = [{"name": "ask", "type": "instruction", "instruction": {"message": "go?"}, "next": "done"},
       {"name": "done", "type": "success"}]  # fmt: skip


def _operator_pid() -> int:
    return stack_pids("drift-operator")["drift-operator"]


def _run(name: str, namespace: str) -> dict:
    return resource("WorkflowRun", name, namespace, {"workflowRef": {"name": "asker"}})


def finished_runs(api: client.CustomObjectsApi, runs: PhaseWatch, namespace: str) -> None:
    """RUNS finished runs, created while the operator is stopped with the status of one that really ran."""
    template = "finished-template"
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _run(template, namespace))
    runs.wait([template], "Waiting", 120)
    api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, template,
                                       {"spec": {"resume": [{"node": "ask", "input": {}}]}})  # fmt: skip
    runs.wait([template], "Succeeded", 120)
    status = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, template)["status"]
    stack("down", "drift-operator")

    def one(i: int) -> None:
        name = f"done-{i}"
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _run(name, namespace))
        api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, {"status": status})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(RUNS)))
    stack("up", "drift-operator")


def waiting_runs(api: client.CustomObjectsApi, runs: PhaseWatch, namespace: str) -> tuple[list[float], float]:
    """RUNS waiting runs, BATCH at a time: (creation -> Waiting ms of the 1,000th, the middle and the last run, runs
    reaching Waiting per second over all of them)."""
    created: dict[str, float] = {}
    for start in range(0, RUNS, BATCH):
        names = [f"wait-{i}" for i in range(start, min(start + BATCH, RUNS))]
        created.update((name, time.monotonic()) for name in names)
        apply_list([_run(name, namespace) for name in names])
        wait_until(lambda: sum((n, "Waiting") in runs.seen for n in created) >= 0.8 * len(created), 1800,
                    f"{len(created)} runs created, 80 % waiting")  # fmt: skip
    runs.wait(list(created), "Waiting", 1800)
    names = list(created)
    curve = [(runs.seen[names[i - 1], "Waiting"] - created[names[i - 1]]) * 1000 for i in CURVE]
    span = max(runs.seen[name, "Waiting"] for name in names) - created[names[0]]
    return curve, RUNS / span


def list_times() -> tuple[float, float]:
    """(kubectl get wfr -A --chunk-size=500, the paged raw JSON list of the same) in seconds."""
    began = time.monotonic()
    kubectl("get", "wfr", "-A", "--chunk-size=500")
    table = time.monotonic() - began
    began, token = time.monotonic(), ""
    while True:
        page = json.loads(kubectl("get", "--raw", f"/apis/{GROUP}/{VERSION}/{PLURAL}?limit=500&continue={token}"))
        token = page["metadata"].get("continue") or ""
        if not token:
            return table, time.monotonic() - began


def resume_lag(
    api: client.CustomObjectsApi, runs: PhaseWatch, namespace: str, names: list[str]
) -> tuple[list[float], list[float]]:
    """Resume `names` (waiting runs) one every PACE_SECONDS: (resume -> Succeeded seen, ms; hand-written signal ->
    result on the same schedule, ms)."""
    resumed = resume_each(api, namespace, names, pause=PACE_SECONDS)
    runs.wait(names, "Succeeded", 300)
    lag = [(runs.seen[name, "Succeeded"] - resumed[name]) * 1000 for name in names]
    hand = hand_written(len(names), answer_offsets=[resumed[name] - resumed[names[0]] for name in names])
    return lag, hand.answer_to_done_ms


def _operator_metrics() -> dict[str, float]:
    """Each metric on the stack's operator's /metrics, the sum of its samples, by name."""
    port = stack_port("drift-operator-metrics")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {family.name: sum(sample.value for sample in family.samples)
            for family in text_string_to_metric_families(text)}  # fmt: skip


def _all_runs() -> int:
    """How many WorkflowRuns the API server holds, in every namespace."""
    page = json.loads(kubectl("get", "--raw", f"/apis/{GROUP}/{VERSION}/{PLURAL}?limit=1"))
    return len(page["items"]) + int(page["metadata"].get("remainingItemCount") or 0)


def restart_operator() -> float:
    """Stop and start the stack's operator: seconds from the stop until its /healthz answers."""
    began = time.monotonic()
    stack("down", "drift-operator")
    stack("up", "drift-operator")
    return time.monotonic() - began


class CaughtUp(threading.Thread):
    """Waits, in the background, until the restarted operator knows all `expected` runs and has compared every
    started one with Temporal; `seconds` counts from the thread's start."""

    def __init__(self, expected: int) -> None:
        super().__init__(daemon=True)
        self.expected, self.seconds = expected, float("nan")

    def run(self) -> None:
        began = time.monotonic()
        wait_until(self._caught_up, 3600, "the operator caught up")
        self.seconds = time.monotonic() - began

    def _caught_up(self) -> bool:
        metrics = _operator_metrics()
        return metrics["drift_operator_runs"] >= self.expected and metrics["drift_operator_runs_catching_up"] == 0


def compared_by_hand(api: client.CustomObjectsApi, namespace: str, prefix: str) -> float:
    """Seconds for the bench itself to compare the namespace's runs named `prefix`* with Temporal as a restarted
    operator does (a describe and a `snapshot` query each), FIRST_SIGHT_OBSERVES at once."""
    ids, token = [], None
    while True:
        page = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, limit=500, _continue=token)
        ids += [run_workflow_id(r["metadata"]) for r in page["items"] if r["metadata"]["name"].startswith(prefix)]
        if not (token := page["metadata"].get("continue")):
            break

    async def compare() -> float:
        temporal = await connect(temporal_settings(os.environ))
        gate = asyncio.Semaphore(FIRST_SIGHT_OBSERVES)

        async def one(workflow_id: str) -> None:
            async with gate:
                await run_observation.observe(temporal, workflow_id, query=True)

        began = time.monotonic()
        await asyncio.gather(*(one(i) for i in ids))
        return time.monotonic() - began

    return asyncio.run(compare())


def run() -> list[Result]:
    """Goal 5's figures (see the module docstring)."""
    config.load_kube_config()
    api = client.CustomObjectsApi()
    idle_cpu, idle_rss = usage(_operator_pid(), 30)
    idle_restart = restart_operator()
    namespace = new_namespace()
    apply_list([workflow("asker", namespace, ASK)])
    kubectl("wait", "--for=condition=Ready", "-n", namespace, "--timeout=60s", "workflow/asker")
    runs = PhaseWatch(api, namespace)
    try:
        finished_runs(api, runs, namespace)
        curve, rate = waiting_runs(api, runs, namespace)
        time.sleep(30)
        cpu, rss = usage(_operator_pid(), 60)
        table, raw = list_times()
        lag, hand = resume_lag(api, runs, namespace, [f"wait-{i}" for i in range(RESUMED)])
        expected = _all_runs()
        restart = restart_operator()
        caught_up = CaughtUp(expected)
        caught_up.start()
        lag_after, hand_after = resume_lag(api, runs, namespace, [f"wait-{i}" for i in range(RESUMED, 2 * RESUMED)])
        caught_up.join()
        rss_after = rss_mib(_operator_pid())
    finally:
        runs.stop()
    by_hand = compared_by_hand(api, namespace, "wait-")
    at_once = hand_written(200)
    label = f"{RUNS // 1000}k_waiting_{RUNS // 1000}k_finished"
    same = "hand-written, same schedule: signal -> result"
    return [
        *(Result(f"scale_run_{n}_create_to_waiting", ms, "ms", "hand-written, 200 started at once: start -> wait p95",
                 percentile(at_once.to_waiting_ms, 95)) for n, ms in zip(CURVE, curve, strict=True)),
        Result(f"scale_{RUNS // 1000}k_runs_started_per_second", rate, "runs/s",
               "hand-written workflows reaching their wait (200 at once)", at_once.waiting_per_second),
        Result(f"operator_rss_{label}", rss, "MiB", "operator with no runs", idle_rss),
        Result(f"operator_cpu_{label}", cpu, "% core", "operator with no runs", idle_cpu),
        Result(f"kubectl_get_wfr_{label}", table * 1000, "ms", "paged JSON list of the same (get --raw)", raw * 1000),
        *(Result(f"resume_to_succeeded_{label}_p{q}", percentile(lag, q), "ms", f"{same} p{q}", percentile(hand, q))
          for q in (50, 95)),
        Result(f"operator_restart_{label}", restart * 1000, "ms", "the same restart with no runs", idle_restart * 1000),
        Result(f"operator_rss_after_restart_{label}", rss_after, "MiB", "the same operator before its restart", rss),
        Result(f"operator_caught_up_after_restart_{label}", caught_up.seconds, "s",
               f"the same comparisons made by hand, {FIRST_SIGHT_OBSERVES} at once", by_hand),
        *(Result(f"resume_to_succeeded_after_restart_{label}_p{q}", percentile(lag_after, q), "ms", f"{same} p{q}",
                 percentile(hand_after, q)) for q in (50, 95)),
    ]  # fmt: skip
