"""Generated files agree with their sources: the chart's CRDs with crds/, config/rbac/ with the chart's RBAC."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO_ROOT

SOURCE = REPO_ROOT / "crds"
CHART_CRDS = REPO_ROOT / "charts" / "drift" / "crds"


def test_chart_crds_are_identical_to_the_generated_ones():
    source = {path.name: path.read_bytes() for path in SOURCE.glob("*.yaml")}
    copies = {path.name: path.read_bytes() for path in CHART_CRDS.glob("*.yaml")}
    assert source, "crds/ is empty"
    assert sorted(copies) == sorted(source), "run charts/sync-crds.sh"
    stale = [name for name in source if copies[name] != source[name]]
    assert not stale, f"charts/drift/crds/{stale} differ from crds/: run charts/sync-crds.sh"


def test_sync_script_check_mode_agrees():
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "charts" / "sync-crds.sh"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_plain_rbac_manifests_are_what_the_chart_renders(tools):
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "charts" / "render-rbac.sh"), "--check"],
        capture_output=True, text=True, env=tools, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
