"""The operator's, the worker's and drift-events' images, built here without a Docker engine or a registry.

The repository's Dockerfile is built with buildah (daemonless, Debian's package) on a Python base image made
from Debian's packages with mmdebstrap, since no registry can be pulled from; the Dockerfile takes the base as
its PYTHON_IMAGE build argument, so elsewhere it builds on the pinned public base as usual. Each image is
written as a docker-archive tarball that `ctr images import` loads into a node without a registry.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from pathlib import Path

from . import toolchain
from .config import REPO_ROOT, StackConfig
from .errors import StackError

BASE_SUITE = "bookworm"
BASE_PACKAGES = ("passwd", "python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
"""On top of Debian's Essential set: what the Dockerfile's stages use (pip, venv, useradd) and TLS roots."""
BASE_PURGE = (
    "usrmerge",
    "usr-is-merged",
    "libfile-find-rule-perl",
    "libnumber-compare-perl",
    "libtext-glob-perl",
    "perl",
    "libperl5.36",
    "perl-modules-5.36",
)
"""Pulled in only to merge /usr at install time (mmdebstrap already made it merged): 50 MB of Perl."""
BASE_EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*")
MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
"""Mounted over the build containers' bundle while they run, so pip trusts what this machine trusts (a
TLS-inspecting proxy's CA, say); it never becomes part of an image."""
TARGETS = ("operator", "worker", "events")


def app_version() -> str:
    """The chart's appVersion: the tag the chart's default values pull."""
    chart = (REPO_ROOT / "charts" / "drift" / "Chart.yaml").read_text()
    match = re.search(r'^appVersion:\s*"?([^"\s]+)"?', chart, re.MULTILINE)
    if match is None:
        raise StackError("charts/drift/Chart.yaml has no appVersion")
    return match.group(1)


def _recipe() -> list[str]:
    argv = ["mmdebstrap", "--variant=essential", f"--include={','.join(BASE_PACKAGES)}"]
    argv += [f"--dpkgopt=path-exclude={path}" for path in BASE_EXCLUDES]
    argv.append("--dpkgopt=path-include=/usr/share/doc/*/copyright")
    argv.append(f'--customize-hook=chroot "$1" dpkg --purge --force-depends {" ".join(BASE_PURGE)}')
    argv.append('--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*')
    return [*argv, BASE_SUITE]


def _buildah(*args: str, log: Path | None = None) -> str:
    if log is None:
        result = subprocess.run(["buildah", *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"buildah {args[0]} failed: {result.stderr.strip()[-300:]}")
        return result.stdout.strip()
    with log.open("ab") as out:
        code = subprocess.run(["buildah", *args], stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        raise StackError(f"buildah {args[0]} failed (exit {code}); see {log}")
    return ""


def _image_exists(name: str) -> bool:
    inspect = ["buildah", "inspect", "--type", "image", name]
    return subprocess.run(inspect, capture_output=True, check=False).returncode == 0


def base_image(config: StackConfig) -> str:
    """`localhost/drift-python:3.11-<suite>-<recipe digest>`: Debian's python3.11, built once and cached."""
    recipe = _recipe()
    digest = hashlib.sha256(json.dumps([*recipe, MIRROR]).encode()).hexdigest()[:12]
    name = f"localhost/drift-python:3.11-{BASE_SUITE}-{digest}"
    if _image_exists(name):
        return name
    rootfs = config.cache_dir / "images" / f"drift-python-3.11-{BASE_SUITE}-{digest}.tar"
    log = config.cache_dir / "logs" / "build-base-image.log"
    if not rootfs.exists():
        toolchain.debian_command("mmdebstrap", "mmdebstrap")
        print(f"building the base image's root filesystem from Debian's packages (once; log: {log})", flush=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        partial = rootfs.with_name(f"{rootfs.stem}.partial.tar")  # mmdebstrap picks the format by the suffix
        with log.open("ab") as out:
            code = subprocess.run(
                [*recipe, str(partial), MIRROR], stdout=out, stderr=subprocess.STDOUT, check=False
            ).returncode
        if code != 0:
            raise StackError(f"mmdebstrap failed (exit {code}); see {log}")
        partial.rename(rootfs)
    container = _buildah("from", "--quiet", "scratch")
    try:
        _buildah("add", "--quiet", container, str(rootfs), "/")
        _buildah(
            "config",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env",
            "LANG=C.UTF-8",
            "--cmd",
            "python3",
            container,
        )
        _buildah("commit", "--quiet", container, name)
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    return name


def image_size(name: str) -> str:
    """The image's unpacked size as buildah reports it (e.g. `333 MB`)."""
    for image in json.loads(_buildah("images", "--json", name) or "[]"):
        return str(image["size"])
    raise StackError(f"no image {name}")


CONTEXT = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "drift",
    "operator",
    "worker",
    "events",
    "cli",
    "devstack",
)
"""What the images are built from (the Dockerfile's context is an allow-list within these)."""


def _source_digest(base: str, tag: str) -> str:
    digest = hashlib.sha256(f"{base} {tag}".encode())
    for top in CONTEXT:
        path = REPO_ROOT / top
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(str(file.relative_to(REPO_ROOT)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def build(config: StackConfig, out_dir: Path, tag: str | None = None) -> dict[str, Path]:
    """Build drift-operator, drift-worker and drift-events:`tag` (default: the chart's appVersion) into `out_dir`/*.tar.

    A no-op when the sources, the base and the tag are those of the tarballs already there.
    """
    toolchain.debian_command("buildah", "buildah")
    runtime = toolchain.debian_command("runc", "runc")  # buildah would prefer crun, which refuses hybrid cgroups
    tag = tag or app_version()
    base = base_image(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / "sources.sha256"
    digest = _source_digest(base, tag)
    archives = {target: out_dir / f"drift-{target}.tar" for target in TARGETS}
    built = all(_image_exists(f"localhost/drift-{target}:{tag}") for target in TARGETS)
    if built and stamp.exists() and stamp.read_text().strip() == digest and all(a.exists() for a in archives.values()):
        for target in TARGETS:
            name = f"drift-{target}:{tag}"
            print(f"  drift-{target:<9} {name} {image_size(f'localhost/{name}')} (up to date)", flush=True)
        return archives
    stamp.unlink(missing_ok=True)
    log = out_dir / "build.log"
    for target in TARGETS:
        name = f"drift-{target}:{tag}"
        began = time.monotonic()
        bud = ["bud", "--runtime", runtime, "--network", "host", "--format", "docker", "--target", target]
        bud += ["--tag", f"localhost/{name}"]
        bud += ["--build-arg", f"PYTHON_IMAGE={base}", "--build-arg", f"VERSION={tag}"]
        if HOST_CA_BUNDLE.exists():
            bud += ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
        _buildah(*bud, str(REPO_ROOT), log=log)
        archive = archives[target]
        archive.unlink(missing_ok=True)
        _buildah("push", "--quiet", f"localhost/{name}", f"docker-archive:{archive}:{name}", log=log)
        print(
            f"  drift-{target:<9} {name} {image_size(f'localhost/{name}')} in {time.monotonic() - began:.0f}s",
            flush=True,
        )
    stamp.write_text(digest + "\n")
    return archives


def retag(archive: Path, source: str, target: str) -> Path:
    """A changed copy of an image (one label differs) under another tag, for upgrade tests; a tarball beside."""
    container = _buildah("from", "--quiet", f"localhost/{source}")
    try:
        _buildah("config", "--label", f"dev.drift.rebuilt-from={source}", container)
        _buildah("commit", "--quiet", "--format", "docker", container, f"localhost/{target}")
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    archive.unlink(missing_ok=True)
    _buildah("push", "--quiet", f"localhost/{target}", f"docker-archive:{archive}:{target}")
    return archive
