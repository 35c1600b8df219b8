"""WorkflowRun and Workflow manifests for the benchmarks, and the floor of any status reflection."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

from kubernetes import client, watch

from .report import percentile

GROUP, VERSION = "drift.dev", "v1alpha1"
WRITE_SAMPLES = 100


def kubectl(*args: str, stdin: str | None = None) -> str:
    """The stack's kubectl; its output (fails the benchmark on a non-zero exit)."""
    return subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=True).stdout


def resource(kind: str, name: str, namespace: str, spec: dict) -> dict:
    metadata = {"name": name, "namespace": namespace}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": metadata, "spec": spec}


def workflow(name: str, namespace: str, nodes: list[dict]) -> dict:
    return resource("Workflow", name, namespace, {"startAt": nodes[0]["name"], "nodes": nodes})


def write_to_watch_latency(namespace: str) -> dict[int, float]:
    """p50/p95 in ms from a ConfigMap patch to its event on a watch: what any status reflection costs at least."""
    core = client.CoreV1Api()
    name = f"bench-probe-{uuid.uuid4().hex[:6]}"
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": name}, "data": {"n": "0"}})
    seen: dict[str, float] = {}

    def observe() -> None:
        stream = watch.Watch().stream(
            core.list_namespaced_config_map, namespace, field_selector=f"metadata.name={name}",
            resource_version=created.metadata.resource_version, timeout_seconds=120,
        )  # fmt: skip
        for event in stream:
            seen.setdefault((event["object"].data or {}).get("n", ""), time.monotonic())
            if str(WRITE_SAMPLES) in seen:
                return

    watcher = threading.Thread(target=observe, daemon=True)
    watcher.start()
    time.sleep(0.5)
    samples = []
    for i in range(1, WRITE_SAMPLES + 1):
        began = time.monotonic()
        core.patch_namespaced_config_map(name, namespace, {"data": {"n": str(i)}})
        deadline = time.monotonic() + 10
        while str(i) not in seen:
            if time.monotonic() > deadline:
                raise TimeoutError("benchmark: a ConfigMap patch not seen by its watch in 10s")
            time.sleep(0.002)
        samples.append((seen[str(i)] - began) * 1000)
    watcher.join(5)
    return {q: percentile(samples, q) for q in (50, 95)}
