"""`drift-operator`: builds settings, clients and metrics, then runs the kopf handlers and the Temporal
worker of schedule fires (task queue `{DRIFT_TASK_QUEUE}-schedules`).

Run exactly one replica. kopf runs standalone here (no peering): kopf's peering only pauses other
operators, it is not leader election, so scaling out would start executions and write statuses twice.
DRIFT_WATCH_NAMESPACE limits the operator to one namespace; unset, it watches the whole cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kopf
from temporalio.worker import Worker

from drift.cache.definition_cache import DefinitionCache
from drift.kube_client import Kube
from drift.observability import drift_backends, serve
from drift.run_contract import run_events_channel
from drift.run_events import RunEvents
from drift.storage.hbase import HBaseStore
from drift.temporal_client import BUILD_ID, connect

from . import (
    definition_handlers,
    housekeeping,
    operator_settings,
    run_handlers,
    schedule_handlers,
    schedules,
    trigger_handlers,
)
from .clients import Services
from .run_catchup import CatchUp
from .run_expiry import RunExpiry
from .run_index import RunIndex
from .run_registry import RunRegistry
from .run_watch import PAGE
from .schedule_activities import ScheduleActivities
from .schedule_fire import ScheduleFire
from .status_writer import StatusWriter

log = logging.getLogger("drift_operator")
HANDLERS = (definition_handlers, run_handlers, schedule_handlers, trigger_handlers)
"""Imported for their kopf decorators."""


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """kopf's bookkeeping in annotations, not status; Events only from our own handlers and warnings.

    Every handler and index is async: kopf runs a sync one in a thread pool, a thread hop per watch event. kopf
    does not watch WorkflowRuns at all (run_watch does, and run_index keeps what an index would): with an index
    on them, kopf held every handler until each listed run was indexed (measured with 10,500 WorkflowRuns on
    the loaded 2-core machine: a restarted operator indexed 2,900 in five minutes and handled nothing
    meanwhile), and even with a plain event handler it handled a resume 33-38 s after a restart with 20,001.

    kopf's per-object workers stay unbounded (its default): handlers wait until every index has seen every
    object, so a worker limit below the number of objects deadlocks the start (measured: with 256 and 651
    WorkflowRuns, a restarted operator indexed 263 objects and then handled nothing).
    """
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kopf.drift.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kopf.drift.dev", key="last-handled-configuration"
    )
    settings.persistence.finalizer = operator_settings.FINALIZER
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.chunk_size = PAGE  # kopf lists in pages too: one page in memory at a time


async def run() -> None:
    """Build the clients, start the run-events subscriber, kopf and the endpoint; run until kopf stops."""
    config = operator_settings.load()
    store = HBaseStore(config.hbase)
    cache = DefinitionCache(store, config.redis_url, config.cache)
    kube = Kube("drift-operator")
    runs, events = RunRegistry(config.resync_seconds), RunEvents()
    temporal = await connect(config.temporal)
    writes_at_once = config.status_writes_at_once
    status = StatusWriter(kube, store, runs, config.coalesce_seconds, temporal, writes_at_once=writes_at_once)
    services = Services(config, cache, temporal, kube, runs, events, status, RunExpiry(kube), RunIndex())
    await store.ensure_tables()
    await cache.start()
    channel = run_events_channel(config.table_prefix)
    catch_up = CatchUp(services)
    subscriber = asyncio.create_task(events.subscribe(config.redis_url, channel, status.offer, catch_up.request))
    fires = Worker(
        temporal,
        task_queue=schedules.task_queue(config.temporal),
        build_id=BUILD_ID,
        workflows=[ScheduleFire],
        activities=ScheduleActivities(kube).all(),
    )
    fire_worker = asyncio.create_task(fires.run())
    background = [subscriber, fire_worker]
    if config.context_retention_days is not None:
        background.append(asyncio.create_task(housekeeping.expire_contexts(store, config.context_retention_days)))
    await housekeeping.withdraw_orphaned_pointers(services)
    namespaces = [config.watch_namespace] if config.watch_namespace else []
    log.info("watching %s", config.watch_namespace or "all namespaces")
    operator = asyncio.create_task(
        kopf.operator(standalone=True, clusterwide=not namespaces, namespaces=namespaces, memo=services)
    )

    def live() -> str | None:
        """kopf's own liveness (its root tasks run while `kopf.operator` does), the run-events subscriber, the
        schedules' fire worker and the runs' watch and loops."""
        if operator.done():
            return "kopf has stopped"
        if fire_worker.done():
            return "the schedules' Temporal worker has stopped"
        if stopped := next((task for task in services.background if task.done()), None):
            return f"{stopped.get_name()} has stopped"
        return "the run-events subscriber has stopped" if subscriber.done() else None

    endpoint = await serve(config.metrics_port, live, drift_backends(cache.redis.client, store, temporal))
    try:
        await operator
    finally:
        for task in (*background, *services.background, operator):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await endpoint.cleanup()
        await cache.close()
        store.close()
        await kube.close()


def main() -> None:
    """Entry point of the `drift-operator` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run())


if __name__ == "__main__":
    main()
