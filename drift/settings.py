"""Settings from the environment (the variables API.md's Operations section names), read once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .cache.definition_cache import CacheSettings
from .storage.hbase import HBaseSettings


def _typed(cls: type, prefix: str, env: Mapping[str, str], overrides: dict[str, object]) -> dict[str, object]:
    """Dataclass field values from `{prefix}{FIELD_NAME}` variables, converted to the field's type."""
    values: dict[str, object] = dict(overrides)
    for field in fields(cls):
        raw = env.get(f"{prefix}{field.name.upper()}")
        if raw is None or field.name in values:
            continue
        kind = type(field.default)
        try:
            values[field.name] = kind(raw)
        except ValueError:
            raise ValueError(f"{prefix}{field.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
    return values


def hbase_settings(env: Mapping[str, str] = os.environ) -> HBaseSettings:
    """DRIFT_HBASE_HOST, DRIFT_HBASE_PORT, DRIFT_TABLE_PREFIX, DRIFT_HBASE_POOL_SIZE, ..., DRIFT_EVENT_INBOX_SECONDS."""
    overrides: dict[str, object] = {}
    if "DRIFT_TABLE_PREFIX" in env:
        overrides["table_prefix"] = env["DRIFT_TABLE_PREFIX"]
    if "DRIFT_EVENT_INBOX_SECONDS" in env:
        overrides["event_inbox_seconds"] = int(env["DRIFT_EVENT_INBOX_SECONDS"])
    return HBaseSettings(**_typed(HBaseSettings, "DRIFT_HBASE_", env, overrides))  # type: ignore[arg-type]


def cache_settings(env: Mapping[str, str] = os.environ) -> CacheSettings:
    """DRIFT_CACHE_MEMORY_ENTRIES, DRIFT_CACHE_MEMORY_TTL_SECONDS, DRIFT_CACHE_REDIS_TTL_SECONDS, ..."""
    return CacheSettings(**_typed(CacheSettings, "DRIFT_CACHE_", env, {}))  # type: ignore[arg-type]


def redis_url(env: Mapping[str, str] = os.environ) -> str:
    """DRIFT_REDIS_URL (default redis://127.0.0.1:6379/0)."""
    return env.get("DRIFT_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class TemporalSettings:
    """Where runs execute: the Temporal frontend, its namespace and Drift's task queue."""

    address: str = "127.0.0.1:7233"
    """DRIFT_TEMPORAL_ADDRESS, host:port."""
    namespace: str = "default"
    """DRIFT_TEMPORAL_NAMESPACE."""
    task_queue: str = "drift"
    """DRIFT_TASK_QUEUE: the operator starts runs there, the worker polls it."""


def temporal_settings(env: Mapping[str, str] = os.environ) -> TemporalSettings:
    """DRIFT_TEMPORAL_ADDRESS, DRIFT_TEMPORAL_NAMESPACE, DRIFT_TASK_QUEUE (the one reader of the three)."""
    default = TemporalSettings()
    return TemporalSettings(
        address=env.get("DRIFT_TEMPORAL_ADDRESS", default.address),
        namespace=env.get("DRIFT_TEMPORAL_NAMESPACE", default.namespace),
        task_queue=env.get("DRIFT_TASK_QUEUE", default.task_queue),
    )


@dataclass(frozen=True)
class BackendSettings:
    """Where a process finds HBase, the definition cache, Redis and Temporal (the operator's and drift-events'
    settings extend it)."""

    hbase: HBaseSettings
    cache: CacheSettings
    redis_url: str
    temporal: TemporalSettings

    @property
    def table_prefix(self) -> str:
        return self.hbase.table_prefix


def backend_settings(env: Mapping[str, str] = os.environ) -> dict[str, object]:
    """The BackendSettings fields from the environment, to build a subclass with."""
    return {"hbase": hbase_settings(env), "cache": cache_settings(env), "redis_url": redis_url(env),
            "temporal": temporal_settings(env)}  # fmt: skip
