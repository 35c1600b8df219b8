# Drift: `make dev` runs the product on a local stack, `make test` runs the whole suite.
# Both install what they need; built binaries are cached in ~/.cache/drift (DRIFT_CACHE_DIR).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
DEV_DIR := $(CURDIR)/.dev
TEST_DIR := $(CURDIR)/.dev/test
BENCH_DIR := $(CURDIR)/.dev/bench
CHAOS_DIR := $(CURDIR)/.dev/chaos
SOAK_DIR := $(CURDIR)/.dev/soak
CLUSTER_DIR := $(CURDIR)/.dev/cluster
CLUSTER_TEST_DIR := $(CURDIR)/.dev/test-cluster
STACK := $(BIN)/python -m drift_devstack
PYTEST_ARGS ?=
BENCH ?=
FAULTS ?=

.PHONY: help install dev dev-up dev-down test test-up test-down bench chaos soak lint crds e2e-kind images cluster-up cluster-down test-cluster

help:
	@echo "make dev    run Drift on a local stack (Kubernetes API server, Temporal, Redis, HBase) until Ctrl-C"
	@echo "make test   run the whole suite (lint, unit, integration, e2e) against a fresh local stack"
	@echo "make bench  run the benchmarks against a local stack; writes bench/results.json (BENCH=\"NAME...\": only those; BENCH=scale: 10,000 runs, opt-in)"
	@echo "make chaos  kill -9 each stack service under 200 runs in flight, check every run; table in the README (FAULTS=\"NAME...\": only those)"
	@echo "make soak   10,000 mixed runs over 30 min: operator and worker memory, etcd sizes, HBase rows, TTL deletions; table in the README (SOAK_RUNS, SOAK_MINUTES)"
	@echo "make dev-up / dev-down, test-up / test-down: start or stop a stack and leave it"
	@echo "make crds   regenerate crds/ from the pydantic models in drift/models, config/rbac/ from the chart"
	@echo "make images build the operator and worker images here (buildah; root)"
	@echo "make cluster-up / cluster-down: the stack plus a one-node cluster with Drift installed by Helm (root)"
	@echo "make test-cluster   the e2e suite against Drift's pods on a fresh one-node cluster (root)"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "error: Python 3.11+ is required ($(PYTHON) is $$($(PYTHON) -V))" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv
	@$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	@touch $@

dev-up: install
	@echo "starting the local stack in $(DEV_DIR)"
	@$(STACK) --state-dir $(DEV_DIR) up
	@. $(DEV_DIR)/env && kubectl apply --server-side --force-conflicts -f crds/ >/dev/null \
	  && kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
	@$(STACK) --state-dir $(DEV_DIR) up apps
	@echo "ready: . .dev/env"

dev-down:
	@test -x $(BIN)/python || { echo "nothing to stop: no virtualenv"; exit 0; }; \
	  $(STACK) --state-dir $(DEV_DIR) down

dev: dev-up
	@if ls config/samples/*.yaml >/dev/null 2>&1; then . $(DEV_DIR)/env && kubectl apply -f config/samples/; fi
	@echo "watch the runs:  . .dev/env && kubectl get wfr -w     (Ctrl-C here stops everything)"
	@$(STACK) --state-dir $(DEV_DIR) follow

test-up: install
	@$(STACK) --state-dir $(TEST_DIR) up

test-down:
	@$(STACK) --state-dir $(TEST_DIR) down

test: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/lint-imports
	@$(STACK) --state-dir $(TEST_DIR) down --purge
	@$(STACK) --state-dir $(TEST_DIR) up
	@set +e; set -a; . $(TEST_DIR)/env; set +a; \
	  $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  $(STACK) --state-dir $(TEST_DIR) down || rc=1; \
	  $(STACK) --state-dir $(TEST_DIR) check-stopped || rc=1; \
	  exit $$rc

# A fresh stack in $(1) with the CRDs, the stack's worker and operator; $(2) runs against it; the stack stops.
define on_own_stack
	@$(STACK) --state-dir $(1) down --purge
	@$(STACK) --state-dir $(1) up
	@. $(1)/env && kubectl apply --server-side -f crds/ >/dev/null \
	  && kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
	@$(STACK) --state-dir $(1) up drift-worker drift-operator
	@set +e; set -a; . $(1)/env; set +a; \
	  $(2); rc=$$?; \
	  $(STACK) --state-dir $(1) down || rc=1; \
	  exit $$rc
endef

bench: install
	$(call on_own_stack,$(BENCH_DIR),$(BIN)/python -m bench $(BENCH))

chaos: install
	$(call on_own_stack,$(CHAOS_DIR),$(BIN)/python -m chaos $(FAULTS))

soak: install
	$(call on_own_stack,$(SOAK_DIR),$(BIN)/python -m chaos.soak)

lint: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/lint-imports

crds: install
	@$(BIN)/python -m drift.crdgen
	@charts/sync-crds.sh
	@HELM="$$($(STACK) helm-path)" charts/render-rbac.sh

e2e-kind: install
	@tests/e2e/kind/run.sh

# Opt-in, root only: the images built with buildah on a base made from Debian's packages (no Docker, no
# registry), written to .dev/images/ as tarballs a node loads with `ctr images import`.
images: install
	@$(STACK) --state-dir $(DEV_DIR) images

# Opt-in, root only: the stack plus a one-node cluster (containerd, kubelet, scheduler, controller-manager) in
# .dev/cluster, the images loaded into it and the chart installed with the stack's values. One node per machine.
cluster-up: images
	@DRIFT_CLUSTER=1 $(STACK) --state-dir $(CLUSTER_DIR) up
	@DRIFT_CLUSTER=1 $(STACK) --state-dir $(CLUSTER_DIR) load-images
	@. $(CLUSTER_DIR)/env && kubectl apply --server-side --force-conflicts -f crds/ >/dev/null \
	  && kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null \
	  && helm upgrade --install drift charts/drift --namespace drift-system --create-namespace \
	       --values $(CLUSTER_DIR)/drift-values.yaml --wait --timeout 8m >/dev/null
	@echo "ready: . .dev/cluster/env && kubectl -n drift-system get pods"

cluster-down:
	@test -x $(BIN)/python || { echo "nothing to stop: no virtualenv"; exit 0; }; \
	  DRIFT_CLUSTER=1 $(STACK) --state-dir $(CLUSTER_DIR) down

# Opt-in, root only, not part of `make test`: the e2e suite with DRIFT_E2E_TARGET=cluster against the chart's
# pods on a fresh one-node stack in .dev/test-cluster; stops it and checks nothing of it is left.
test-cluster: images
	@DRIFT_CLUSTER=1 $(STACK) --state-dir $(CLUSTER_TEST_DIR) down --purge
	@DRIFT_CLUSTER=1 $(STACK) --state-dir $(CLUSTER_TEST_DIR) up
	@set +e; DRIFT_CLUSTER=1 $(STACK) --state-dir $(CLUSTER_TEST_DIR) load-images \
	  && (set -a; . $(CLUSTER_TEST_DIR)/env; set +a; \
	      DRIFT_E2E_TARGET=cluster $(BIN)/pytest tests/e2e --ignore=tests/e2e/test_stack_cli.py $(PYTEST_ARGS)); \
	  rc=$$?; \
	  DRIFT_CLUSTER=1 $(STACK) --state-dir $(CLUSTER_TEST_DIR) down || rc=1; \
	  DRIFT_CLUSTER=1 $(STACK) --state-dir $(CLUSTER_TEST_DIR) check-stopped || rc=1; \
	  exit $$rc
