"""What the operator cleans up outside its handlers: orphaned latest pointers at start, expired run contexts.

- Definitions have no finalizer (a stopped operator must not block deletes), so one deleted while the
  operator was down keeps its latest pointer; at start, before kopf runs, every pointer in `LatestHB` of a
  watched namespace whose object is gone is withdrawn.
- With DRIFT_CONTEXT_RETENTION_DAYS set, contexts of runs that ended longer ago (by `d:finishedAt`) are
  deleted from `WorkflowContextHB`, checked every quarter of the retention, at most hourly.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from drift.errors import BackendUnavailable
from drift.models.resources import NODE_DEFINITION, WORKFLOW
from drift.storage.hbase import HBaseStore

from .clients import Services
from .definition_handlers import CACHE_KINDS

log = logging.getLogger(__name__)
MAX_SWEEP_INTERVAL_SECONDS = 3600.0


async def withdraw_orphaned_pointers(services: Services) -> int:
    """Withdraw the latest pointers whose NodeDefinition or Workflow no longer exists; how many.

    Runs before kopf starts, so no reconcile moves a pointer meanwhile; pointers are read before objects are
    listed, so a definition created in between is seen. A backend failure is logged, not raised: the
    operator starts anyway and its next start tries again.
    """
    namespace = services.settings.watch_namespace
    withdrawn = 0
    try:
        pointers = await services.cache.store.scan_keys("LatestHB", "")
        for kind in (NODE_DEFINITION, WORKFLOW):
            existing = await services.kube.names(kind.plural, namespace)
            cache_kind = CACHE_KINDS[kind.kind]
            for key in pointers:
                found_kind, _, ref = key.partition("/")
                if found_kind != cache_kind or (namespace and not ref.startswith(f"{namespace}/")):
                    continue
                if tuple(ref.split("/", 1)) not in existing:
                    await services.cache.withdraw(cache_kind, ref)
                    withdrawn += 1
    except BackendUnavailable as exc:
        log.warning("orphaned latest pointers not checked (%s); the next start tries again", exc)
    if withdrawn:
        log.info("withdrew %d latest pointers of definitions deleted while the operator was down", withdrawn)
    return withdrawn


async def expire_contexts(store: HBaseStore, retention_days: float) -> None:
    """Forever: delete the contexts of runs that ended more than `retention_days` ago."""
    retention = timedelta(days=retention_days)
    interval = min(max(retention.total_seconds() / 4, 1.0), MAX_SWEEP_INTERVAL_SECONDS)
    while True:
        try:
            cutoff = datetime.now(UTC) - retention
            expired = [key for key, finished in await store.finished_contexts() if finished < cutoff]
            for key in expired:
                await store.delete("WorkflowContextHB", key)
            if expired:
                log.info("deleted %d run contexts older than %s days", len(expired), retention_days)
        except BackendUnavailable as exc:
            log.warning("context retention sweep failed (%s); retrying in %.0fs", exc, interval)
        await asyncio.sleep(interval)
