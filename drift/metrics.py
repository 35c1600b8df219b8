"""Prometheus metrics of the operator, the worker and drift-events (served on DRIFT_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CACHE_REQUESTS = Counter(
    "drift_cache_requests_total",
    "Definition cache lookups by tier (memory, redis, hbase) and result (hit, miss, error).",
    ["tier", "kind", "result"],
)
CACHE_INVALIDATIONS = Counter(
    "drift_cache_invalidations_total",
    "Latest-pointer invalidations: published by writers, received by readers.",
    ["direction"],
)

NODE_EXECUTIONS = Counter(
    "drift_node_executions_total", "Node executions by node type and result phase.", ["type", "result"]
)
NODE_SECONDS = Histogram(
    "drift_node_duration_seconds",
    "Wall time of one node execution (retries and waits included) by node type.",
    ["type"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300, 3600),
)
CONTEXT_PERSIST_SECONDS = Histogram(
    "drift_context_persist_seconds",
    "Time to write a run's context to HBase after a node.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
)

# Operator ------------------------------------------------------------------------------------------------

RECONCILES = Counter(
    "drift_operator_reconciles_total",
    "Reconciles by kind (NodeDefinition, Workflow, WorkflowRun) and result (synced, invalid, retry, error).",
    ["kind", "result"],
)
SYNC_SECONDS = Histogram(
    "drift_operator_sync_seconds",
    "Time from a change (spec or run event) to its status written, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
STATUS_WRITES_WAITING = Gauge(
    "drift_operator_status_writes_waiting", "Runs whose status write waits for a slot (the status queue's length)."
)
RUNS = Gauge("drift_operator_runs", "WorkflowRuns known to the operator, by phase.", ["phase"])
RUNS_CATCHING_UP = Gauge(
    "drift_operator_runs_catching_up",
    "Runs whose state is still to be re-read from Temporal: found started at the operator's start, or held while "
    "its run-event subscription was down.",
)
RUN_EVENTS = Counter(
    "drift_operator_run_events_total",
    "Run snapshots from the Redis channel, by outcome (applied, coalesced, stale, unknown, invalid).",
    ["outcome"],
)

# drift-events ---------------------------------------------------------------------------------------------

TRIGGER_EVENTS = Counter(
    "drift_trigger_events_total",
    "Events of WorkflowTriggers by source (kafka, http) and outcome (filtered, started, duplicate, failed).",
    ["source", "outcome"],
)
TRIGGER_CONSUMING = Gauge(
    "drift_trigger_consuming",
    "1 while a Kafka WorkflowTrigger's consumer finds its topic on the brokers, else 0 (its Consuming condition).",
    ["namespace", "name"],
)
