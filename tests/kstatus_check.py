"""The real kstatus library (sigs.k8s.io/cli-utils `status.Compute`) as a command, and its verdict on objects.

`kstatus/main.go` is built once from the Go module proxy into DRIFT_CACHE_DIR (`bin/kstatus-check-<version>-
<source hash>`), like the stack's Go tools, then fed `kubectl get -o json` output.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

CLI_UTILS_VERSION = "v0.37.2"
SOURCE = Path(__file__).with_name("kstatus") / "main.go"
GO_MOD = f"""module drift.local/kstatus-check

go 1.26.0

require sigs.k8s.io/cli-utils {CLI_UTILS_VERSION}
"""


def binary() -> Path:
    """The built checker (built on first use; a failed build raises naming its log)."""
    cache = Path(os.environ.get("DRIFT_CACHE_DIR") or Path.home() / ".cache" / "drift")
    digest = hashlib.sha256(SOURCE.read_bytes() + GO_MOD.encode()).hexdigest()[:12]
    target = cache / "bin" / f"kstatus-check-{CLI_UTILS_VERSION}-{digest}"
    if target.exists():
        return target
    src = cache / "src" / target.name
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(GO_MOD)
    (src / "main.go").write_text(SOURCE.read_text())
    log = cache / "logs" / f"build-{target.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    partial = target.with_suffix(".partial")
    with log.open("wb") as out:
        for argv in (["go", "mod", "tidy"], ["go", "build", "-o", str(partial), "."]):
            done = subprocess.run(argv, cwd=src, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"building the kstatus checker failed ({' '.join(argv)}); see {log}")
    partial.rename(target)
    return target


def compute(obj_json: str) -> dict[str, tuple[str, str]]:
    """kind/name -> (kstatus status, message) of each object in `kubectl get -o json` output."""
    done = subprocess.run([str(binary())], input=obj_json, capture_output=True, text=True, check=True)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {f"{line['kind']}/{line['name']}": (line["status"], line["message"]) for line in lines}
