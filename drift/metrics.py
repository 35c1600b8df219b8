"""Prometheus metrics shared by the operator and the worker (served on DRIFT_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter

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
