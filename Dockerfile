# syntax=docker/dockerfile:1.7
#
# The images of the operator and the worker:
#
#   docker build --target operator -t drift-operator:dev .
#   docker build --target worker   -t drift-worker:dev .
#
# One Dockerfile with two targets rather than two files: both processes ship from the same wheel of this
# repository (the `drift` core library plus `drift_operator` and `drift_worker`), so they share the builder
# stage and the runtime stage byte for byte and differ only in their entrypoint. The base image is pinned in
# one place, BuildKit builds the shared stages once for both targets, and the two images can never drift
# apart in dependency versions.
#
# Runtime contract (what the Helm chart relies on):
# - runs as UID/GID 65532 (numeric, so Kubernetes' runAsNonRoot can verify it), no shell login;
# - works with a read-only root filesystem: bytecode is compiled at build time, nothing is written at run time
#   except under /tmp (HOME and TMPDIR point there; the chart mounts an emptyDir on it);
# - serves /metrics and /healthz on DRIFT_METRICS_PORT (default 9090).

# Exact tag; for reproducible release builds pin the digest too
# (`docker buildx imagetools inspect python:3.11.14-slim-bookworm`, then PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- builder: wheels for Drift and every dependency (all have binary wheels for amd64 and arm64; no compiler) ---
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# .dockerignore is an allow-list: only pyproject.toml, README.md, LICENSE* and the package folders arrive here.
COPY . .
RUN python -m pip wheel --prefer-binary --wheel-dir /wheels .

# --- runtime: a virtualenv installed from the builder's wheels; no pip, no build tools, no wheels left behind ---
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="drift" \
      org.opencontainers.image.description="Drift, a Kubernetes-native durable workflow engine" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV VIRTUAL_ENV=/opt/drift \
    PATH=/opt/drift/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
RUN groupadd --system --gid 65532 drift \
 && useradd --system --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin drift
# The base image's pip installs into a venv created without pip; the wheels are bind-mounted from the builder,
# so they never become a layer. pip compiles every module to bytecode here, which is what lets the processes
# run with PYTHONDONTWRITEBYTECODE=1 on a read-only root filesystem without a slow start. The base's interpreter
# is looked up before the venv exists: afterwards `python` on PATH is the venv's, which has no pip.
# What no Drift process imports is deleted (about 80 MB): the kubernetes client's asyncio copy (Drift and kopf use
# the sync client and aiohttp), the Rust sources and protos temporalio ships beside its compiled bridge, and
# every package's tests.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    base_python="$(command -v python)" \
 && "$base_python" -m venv --without-pip /opt/drift \
 && "$base_python" -m pip --disable-pip-version-check --python /opt/drift/bin/python install \
      --no-cache-dir --no-index --find-links /wheels --root-user-action ignore drift \
 && site="$(/opt/drift/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && rm -rf "$site/kubernetes/aio" "$site/temporalio/bridge/sdk-core" "$site/temporalio/bridge/src" \
 && find "$site" -depth -type d -name tests -exec rm -rf {} + \
 && test -x /opt/drift/bin/drift-operator \
 && test -x /opt/drift/bin/drift-worker \
 && test -x /opt/drift/bin/drift-events \
 && /opt/drift/bin/python -c "import drift_operator, drift_worker, drift_events"
# Only now: the install above must write bytecode.
ENV PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/drift
USER 65532:65532
EXPOSE 9090
# Kubernetes ignores HEALTHCHECK (the chart sets liveness and readiness probes on the same endpoint); it serves
# `docker run` and Compose. slim has no curl: python's urllib raises (exit 1) on a refused connection or a
# non-2xx answer such as /healthz's 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('DRIFT_METRICS_PORT') or '9090') + '/healthz', timeout=4)"]

FROM runtime AS operator
ENTRYPOINT ["/opt/drift/bin/drift-operator"]

FROM runtime AS events
EXPOSE 8080
ENTRYPOINT ["/opt/drift/bin/drift-events"]

# The last stage is the default target of a plain `docker build .`; always pass --target.
FROM runtime AS worker
ENTRYPOINT ["/opt/drift/bin/drift-worker"]
