#!/usr/bin/env bash
# The e2e suite against Drift's real images on a kind cluster (needs Docker, kind, kubectl, helm):
# create a cluster, build and load the operator and worker images, start Temporal, Redis and HBase in it
# (deps.yaml), install the chart, run `pytest tests/e2e` against it, tear everything down.
#
#   tests/e2e/kind/run.sh
#
# Environment: KIND_CLUSTER (drift-e2e), KIND_NODE_IMAGE (kind's default), IMAGE_TAG (e2e),
# KEEP_CLUSTER=1 (leave the cluster and print how to use it), PYTHON (.venv/bin/python),
# E2E_PYTEST_ARGS (tests/e2e --ignore=tests/e2e/test_stack_cli.py). See tests/e2e/kind/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${here}/../../.." && pwd)"
cluster="${KIND_CLUSTER:-drift-e2e}"
tag="${IMAGE_TAG:-e2e}"
python="${PYTHON:-${repo_root}/.venv/bin/python}"
pytest_args="${E2E_PYTEST_ARGS:-tests/e2e --ignore=tests/e2e/test_stack_cli.py}"
release=drift
release_namespace=drift-system
deps_namespace=drift-deps
work="$(mktemp -d "${TMPDIR:-/tmp}/drift-kind.XXXXXX")"
kubeconfig="${work}/kubeconfig"
created_cluster=0
forward_pids=()

log() { printf '\n==> %s\n' "$*" >&2; }

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "run.sh: $1 is required: $2" >&2
    exit 1
  fi
}

diagnose() {
  log "diagnostics"
  kubectl get pods --all-namespaces -o wide || true
  kubectl -n "${release_namespace}" describe pods || true
  for deployment in "${release}-operator" "${release}-worker"; do
    kubectl -n "${release_namespace}" logs "deployment/${deployment}" --tail=200 || true
  done
  kubectl -n "${deps_namespace}" logs deployment/hbase --tail=50 || true
}

cleanup() {
  local rc=$?
  trap - EXIT
  local pid
  for pid in ${forward_pids[@]+"${forward_pids[@]}"}; do
    kill "${pid}" 2>/dev/null || true
  done
  if [[ ${rc} -ne 0 && ${created_cluster} -eq 1 ]]; then
    diagnose
  fi
  if [[ ${created_cluster} -eq 1 ]]; then
    if [[ "${KEEP_CLUSTER:-0}" == "1" ]]; then
      log "keeping cluster ${cluster}: export KUBECONFIG=${kubeconfig}; delete it with: kind delete cluster --name ${cluster}"
    else
      log "deleting cluster ${cluster}"
      kind delete cluster --name "${cluster}" --kubeconfig "${kubeconfig}" || true
      rm -rf "${work}"
    fi
  else
    rm -rf "${work}"
  fi
  exit "${rc}"
}
trap cleanup EXIT

free_port() {
  "${python}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Forward 127.0.0.1:<free port> to a Service of deps.yaml and wait until it accepts connections; the port is
# left in forwarded_port (not printed: a $(...) subshell would lose the port-forward's pid, which cleanup kills).
forwarded_port=""
forward() {
  local service=$1 remote_port=$2 local_port
  local_port="$(free_port)"
  kubectl -n "${deps_namespace}" port-forward --address 127.0.0.1 "service/${service}" "${local_port}:${remote_port}" \
    >"${work}/port-forward-${service}.log" 2>&1 &
  forward_pids+=("$!")
  "${python}" - "${local_port}" <<'PY'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.monotonic() + 60
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"port-forward to 127.0.0.1:{port} never accepted a connection")
        time.sleep(0.5)
PY
  forwarded_port="${local_port}"
}

need docker "https://docs.docker.com/engine/install/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "or load a stack's env file: . .dev/env"
need helm "or load a stack's env file: . .dev/env"
if [[ ! -x "${python}" ]]; then
  echo "run.sh: ${python} is missing: run make install, or set PYTHON" >&2
  exit 1
fi
docker info >/dev/null 2>&1 || { echo "run.sh: the Docker engine is not reachable" >&2; exit 1; }
if kind get clusters 2>/dev/null | grep -qx "${cluster}"; then
  echo "run.sh: kind cluster ${cluster} already exists: delete it, or set KIND_CLUSTER" >&2
  exit 1
fi

log "creating kind cluster ${cluster}"
created_cluster=1
kind_args=(create cluster --name "${cluster}" --kubeconfig "${kubeconfig}" --wait 180s)
if [[ -n "${KIND_NODE_IMAGE:-}" ]]; then
  kind_args+=(--image "${KIND_NODE_IMAGE}")
fi
kind "${kind_args[@]}"
export KUBECONFIG="${kubeconfig}"

log "building images drift-operator:${tag} and drift-worker:${tag}"
for target in operator worker; do
  DOCKER_BUILDKIT=1 docker build --target "${target}" --tag "drift-${target}:${tag}" "${repo_root}"
done
kind load docker-image --name "${cluster}" "drift-operator:${tag}" "drift-worker:${tag}"

log "starting Temporal, Redis and HBase in ${deps_namespace}"
kubectl apply -f "${here}/deps.yaml"
for deployment in temporal redis hbase; do
  kubectl -n "${deps_namespace}" rollout status "deployment/${deployment}" --timeout=600s
done

log "installing the chart"
helm upgrade --install "${release}" "${repo_root}/charts/drift" \
  --namespace "${release_namespace}" --create-namespace \
  --values "${here}/values-kind.yaml" \
  --set "operator.image.tag=${tag}" --set "worker.image.tag=${tag}" \
  --wait --timeout 10m

log "forwarding the dependencies to this machine for the suite"
forward temporal 7233
temporal_port="${forwarded_port}"
forward redis 6379
redis_port="${forwarded_port}"
forward hbase 9090
hbase_port="${forwarded_port}"

# The same env file the local stack writes (README: The local stack), pointing at the kind cluster.
stack_dir="${work}/stack"
mkdir -p "${stack_dir}"
cat >"${stack_dir}/env" <<ENV
# Written by tests/e2e/kind/run.sh for kind cluster ${cluster}.
export KUBECONFIG=${kubeconfig}
export DRIFT_EXTERNAL_KUBECONFIG=${kubeconfig}
export DRIFT_TEMPORAL_ADDRESS=127.0.0.1:${temporal_port}
export DRIFT_TEMPORAL_NAMESPACE=default
export DRIFT_TASK_QUEUE=drift
export DRIFT_REDIS_URL=redis://127.0.0.1:${redis_port}/0
export DRIFT_HBASE_HOST=127.0.0.1
export DRIFT_HBASE_PORT=${hbase_port}
export DRIFT_TABLE_PREFIX=drift_
export DRIFT_STACK_DIR=${stack_dir}
export DRIFT_E2E_RELEASE_NAMESPACE=${release_namespace}
ENV

log "running: pytest ${pytest_args}"
read -r -a pytest_argv <<<"${pytest_args}"
(
  cd "${repo_root}"
  set -a
  # shellcheck source=/dev/null
  . "${stack_dir}/env"
  set +a
  "${python}" -m pytest "${pytest_argv[@]}"
)
log "e2e suite passed on kind"
