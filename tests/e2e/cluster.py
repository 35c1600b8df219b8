"""Drift as users run it: the Helm release's operator and worker pods, driven like the local processes.

With `DRIFT_E2E_TARGET=cluster` the `drift_operator` and `drift_worker` fixtures are `Component`s of a release
of charts/drift installed with the stack's values file (`make test-cluster`), so the same e2e tests run
against the images, the chart's ServiceAccounts, RBAC and security context, and the pods' network.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.conftest import REPO_ROOT, kubectl

CHART = REPO_ROOT / "charts" / "drift"
RELEASE = os.environ.get("DRIFT_E2E_RELEASE", "drift")
RELEASE_NAMESPACE = os.environ.get("DRIFT_E2E_RELEASE_NAMESPACE", "drift-system")


def values_file(stack_env: dict[str, str]) -> Path:
    """The values of the local stack's node (written by the stack tool), or `DRIFT_E2E_VALUES`."""
    return Path(stack_env.get("DRIFT_E2E_VALUES") or Path(stack_env["DRIFT_STACK_DIR"]) / "drift-values.yaml")


def helm(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["helm", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
    return result


def install(stack_env: dict[str, str], *extra: str) -> None:
    """`helm upgrade --install` the release with the stack's values; wait until both Deployments are Available."""
    helm(
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "--namespace",
        RELEASE_NAMESPACE,
        "--create-namespace",
        "--values",
        str(values_file(stack_env)),
        "--wait",
        "--timeout",
        "8m",
        *extra,
    )
    for component in ("operator", "worker"):
        Component(component).wait_available()


def installed() -> bool:
    return helm("status", RELEASE, "--namespace", RELEASE_NAMESPACE, check=False).returncode == 0


class Component:
    """One Deployment of the release (`operator` or `worker`), with the process fixtures' start/stop/metrics."""

    def __init__(self, component: str, replicas: int | None = None) -> None:
        self.component = component
        self.deployment = f"{RELEASE}-{component}" if "drift" in RELEASE else f"{RELEASE}-drift-{component}"
        self.selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
        self.replicas = replicas or self._spec_replicas()

    def _kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return kubectl("--namespace", RELEASE_NAMESPACE, *args, check=check)

    def _spec_replicas(self) -> int:
        return int(self._kubectl("get", "deployment", self.deployment, "-o", "jsonpath={.spec.replicas}").stdout)

    def pods(self) -> list[dict]:
        """The component's pods that are not being deleted."""
        items = json.loads(self._kubectl("get", "pods", "-l", self.selector, "-o", "json").stdout)["items"]
        return [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]

    def wait_available(self, timeout: int = 300) -> None:
        """The Deployment's pods are all updated, ready and the only ones (a rollout or restart is over)."""
        self._kubectl("rollout", "status", f"deployment/{self.deployment}", f"--timeout={timeout}s")
        self._kubectl("wait", "--for=condition=Available", f"deployment/{self.deployment}", f"--timeout={timeout}s")
        deadline = time.monotonic() + timeout
        while len(self._kubectl("get", "pods", "-l", self.selector, "-o", "name").stdout.split()) != self.replicas:
            assert time.monotonic() < deadline, f"old pods of {self.deployment} never went away"
            time.sleep(0.5)

    def start(self) -> None:
        self._kubectl("scale", f"deployment/{self.deployment}", f"--replicas={self.replicas}")
        self.wait_available()

    def stop(self) -> None:
        """Scale to zero and wait until every pod is gone (a stopped process)."""
        self._kubectl("scale", f"deployment/{self.deployment}", "--replicas=0")
        self._kubectl("wait", "--for=delete", "pod", "-l", self.selector, "--timeout=120s", check=False)
        deadline = time.monotonic() + 120
        while self._kubectl("get", "pods", "-l", self.selector, "-o", "name").stdout.strip():
            assert time.monotonic() < deadline, f"pods of {self.deployment} never stopped"
            time.sleep(0.5)

    def delete_pods(self, force: bool = False) -> list[str]:
        """Delete the running pods (the Deployment replaces them); their names."""
        names = [pod["metadata"]["name"] for pod in self.pods()]
        args = ["--grace-period=0", "--force"] if force else []
        self._kubectl("delete", "pod", *names, "--wait=false", *args)
        return names

    def kill(self) -> None:
        self.delete_pods(force=True)

    def restart(self) -> None:
        self.delete_pods()
        self.wait_available()

    def metrics(self) -> str:
        """The metrics of every ready pod, concatenated (a scrape of each pod IP from the host)."""
        path = "jsonpath={.spec.template.spec.containers[0].ports[0].containerPort}"
        port = self._kubectl("get", "deployment", self.deployment, "-o", path).stdout
        texts = []
        for pod in self.pods():
            with urllib.request.urlopen(f"http://{pod['status']['podIP']}:{port}/metrics", timeout=5) as response:
                texts.append(response.read().decode())
        return "\n".join(texts)
