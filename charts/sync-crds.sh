#!/usr/bin/env bash
# Copy the generated CRDs (crds/, written by `make crds`) into the chart (charts/drift/crds/), removing stale ones.
#   charts/sync-crds.sh          update the chart's copies
#   charts/sync-crds.sh --check  exit 1 if they differ (tests/chart/test_crds_sync.py runs the same comparison)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="${repo_root}/crds"
chart_dir="${repo_root}/charts/drift/crds"

if [[ "${1:-}" == "--check" ]]; then
  if diff -r "${source_dir}" "${chart_dir}" >/dev/null; then
    echo "charts/drift/crds is in sync with crds/"
    exit 0
  fi
  echo "charts/drift/crds differs from crds/: run charts/sync-crds.sh" >&2
  exit 1
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--check]" >&2
  exit 2
fi

mkdir -p "${chart_dir}"
find "${chart_dir}" -maxdepth 1 -type f -name '*.yaml' -delete
cp "${source_dir}"/*.yaml "${chart_dir}/"
echo "copied $(find "${chart_dir}" -maxdepth 1 -name '*.yaml' | wc -l) CRDs into charts/drift/crds"
