"""Issue 13's goal 5, opt-in (`make bench BENCH=scale`, most of an hour): the stack's operator holding
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
  goal 3: 50 waiting runs resumed one after another, resume -> `Succeeded` seen, p95, against a hand-written
  signal -> result with as many in flight (`run_path.hand_written`).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client, config

from .kube_objects import GROUP, VERSION, kubectl, resource, workflow
from .operator_status import apply_list, new_namespace, usage, wait_until
from .processes import stack, stack_pids
from .report import Result, percentile
from .run_path import PLURAL, PhaseWatch, hand_written

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


def resume_lag(api: client.CustomObjectsApi, runs: PhaseWatch, namespace: str) -> list[float]:
    """Resume RESUMED waiting runs one after another: resume -> Succeeded seen, ms."""
    names = [f"wait-{i}" for i in range(RESUMED)]
    resumed = {}
    for name in names:
        resumed[name] = time.monotonic()
        api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                           {"spec": {"resume": [{"node": "ask", "input": {}}]}})  # fmt: skip
    runs.wait(names, "Succeeded", 300)
    return [(runs.seen[name, "Succeeded"] - resumed[name]) * 1000 for name in names]


def run() -> list[Result]:
    """Goal 5's figures (see the module docstring)."""
    config.load_kube_config()
    api = client.CustomObjectsApi()
    idle_cpu, idle_rss = usage(_operator_pid(), 30)
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
        lag = resume_lag(api, runs, namespace)
    finally:
        runs.stop()
    hand, at_once = hand_written(RESUMED), hand_written(200)
    label = f"{RUNS // 1000}k_waiting_{RUNS // 1000}k_finished"
    return [
        *(Result(f"scale_run_{n}_create_to_waiting", ms, "ms", "hand-written, 200 started at once: start -> wait p95",
                 percentile(at_once.to_waiting_ms, 95)) for n, ms in zip(CURVE, curve, strict=True)),
        Result(f"scale_{RUNS // 1000}k_runs_started_per_second", rate, "runs/s",
               "hand-written workflows reaching their wait (200 at once)", at_once.waiting_per_second),
        Result(f"operator_rss_{label}", rss, "MiB", "operator with no runs", idle_rss),
        Result(f"operator_cpu_{label}", cpu, "% core", "operator with no runs", idle_cpu),
        Result(f"kubectl_get_wfr_{label}", table * 1000, "ms", "paged JSON list of the same (get --raw)", raw * 1000),
        Result(f"resume_to_succeeded_{label}_p95", percentile(lag, 95), "ms",
               f"hand-written signal -> result, {RESUMED} at once, p95", percentile(hand.answer_to_done_ms, 95)),
    ]  # fmt: skip
