"""An envtest-style Kubernetes control plane: etcd plus kube-apiserver on loopback (no kubelet, no pods)."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

from . import node, toolchain
from .config import StackConfig
from .errors import StackError
from .probes import https_ok, tcp_open
from .process import ProcessSpec


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"openssl {args[0]} failed: {result.stderr.strip().splitlines()[-1:]}")


def _ensure_pki(pki: Path) -> None:
    """A CA, the API server's serving certificate (127.0.0.1, localhost) and the service-account key pair."""
    if (pki / "sa.pub").exists():
        return
    toolchain.require_command("openssl", "install Debian's openssl package")
    pki.mkdir(parents=True, exist_ok=True)
    p = str(pki)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=drift-dev-ca",
        "-keyout",
        f"{p}/ca.key",
        "-out",
        f"{p}/ca.crt",
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=kube-apiserver",
        "-keyout",
        f"{p}/server.key",
        "-out",
        f"{p}/server.csr",
    )
    (pki / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes.default.svc\n")
    _openssl(
        "x509",
        "-req",
        "-days",
        "3650",
        "-in",
        f"{p}/server.csr",
        "-CA",
        f"{p}/ca.crt",
        "-CAkey",
        f"{p}/ca.key",
        "-CAcreateserial",
        "-extfile",
        f"{p}/san.ext",
        "-out",
        f"{p}/server.crt",
    )
    _openssl("genrsa", "-out", f"{p}/sa.key", "2048")
    _openssl("rsa", "-in", f"{p}/sa.key", "-pubout", "-out", f"{p}/sa.pub")


def _ensure_kubelet_client_cert(pki: Path) -> None:
    """The API server's client certificate for kubelets (logs, exec): signed by the CA, group system:masters."""
    if (pki / "kubelet-client.crt").exists():
        return
    p = str(pki)
    subject = "/O=system:masters/CN=kube-apiserver-kubelet-client"
    key, csr = f"{p}/kubelet-client.key", f"{p}/kubelet-client.csr"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", key, "-out", csr)
    _openssl(
        "x509",
        "-req",
        "-days",
        "3650",
        "-in",
        csr,
        "-CA",
        f"{p}/ca.crt",
        "-CAkey",
        f"{p}/ca.key",
        "-CAcreateserial",
        "-out",
        f"{p}/kubelet-client.crt",
    )


def _admin_token(pki: Path) -> str:
    path = pki / "tokens.csv"
    if not path.exists():
        path.write_text(f'{secrets.token_hex(24)},drift-admin,drift-admin,"system:masters"\n')
    return path.read_text().split(",", 1)[0]


def write_kubeconfig(config: StackConfig, port: int, token: str) -> None:
    """A kubeconfig (JSON is YAML) for the local API server, verifying its certificate."""
    pki = config.data_dir / "kube" / "pki"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "drift-dev",
                "cluster": {"server": f"https://127.0.0.1:{port}", "certificate-authority": str(pki / "ca.crt")},
            }
        ],
        "users": [{"name": "drift-admin", "user": {"token": token}}],
        "contexts": [{"name": "drift-dev", "context": {"cluster": "drift-dev", "user": "drift-admin"}}],
        "current-context": "drift-dev",
    }
    config.kubeconfig.write_text(json.dumps(kubeconfig, indent=2) + "\n")
    config.kubeconfig.chmod(0o600)


def _mode_flags(pki: Path) -> list[str]:
    """envtest style: no pods, so no service-account admission; as a node's API server: pods get their
    ServiceAccount's token mounted, and the API server reaches the kubelet (logs, exec) with a client cert."""
    if not node.enabled():
        return ["--disable-admission-plugins=ServiceAccount"]
    _ensure_kubelet_client_cert(pki)
    return [
        f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'kubelet-client.key'}",
        "--kubelet-preferred-address-types=InternalIP",
    ]


def specs(config: StackConfig, ports: dict[str, int]) -> list[ProcessSpec]:
    """etcd and kube-apiserver, wired together; writes the PKI and kubeconfig on first use."""
    pki = config.data_dir / "kube" / "pki"
    _ensure_pki(pki)
    token = _admin_token(pki)
    write_kubeconfig(config, ports["kube-apiserver"], token)
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
    api_port = ports["kube-apiserver"]
    etcd = ProcessSpec(
        name="etcd",
        argv=[
            str(toolchain.etcd(config)),
            f"--data-dir={config.data_dir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
        ready=lambda: tcp_open(ports["etcd"]),
    )
    apiserver = ProcessSpec(
        name="kube-apiserver",
        argv=[
            str(toolchain.kube_apiserver(config)),
            f"--etcd-servers={etcd_url}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'server.crt'}",
            f"--tls-private-key-file={pki / 'server.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            f"--secure-port={api_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://127.0.0.1:{api_port}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",  # a loopback advertise address has no Service endpoints
            *_mode_flags(pki),
        ],
        ready=lambda: https_ok(api_port, "/readyz", pki / "ca.crt", token),
    )
    return [etcd, apiserver]
