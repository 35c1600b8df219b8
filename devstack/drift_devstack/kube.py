"""An envtest-style Kubernetes control plane: etcd plus kube-apiserver on loopback (no kubelet, no pods)."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

from . import toolchain
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
            "--disable-admission-plugins=ServiceAccount",
            f"--service-account-issuer=https://127.0.0.1:{api_port}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",  # a loopback advertise address has no Service endpoints
        ],
        ready=lambda: https_ok(api_port, "/readyz", pki / "ca.crt", token),
    )
    return [etcd, apiserver]
