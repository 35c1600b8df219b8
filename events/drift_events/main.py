"""`drift-events`: builds settings and clients, then serves the WorkflowTriggers until SIGTERM/SIGINT: one
Kafka consumer per Kafka trigger, the CloudEvents receiver (DRIFT_EVENTS_PORT), the status counters and the
recording of failed runs.

Replicas scale horizontally: Kafka spreads each trigger's partitions over them, any replica answers any
POST, and each adds its own counts to the triggers' status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from temporalio.service import RPCError

from drift.cache.definition_cache import DefinitionCache
from drift.kube_client import Kube, KubeError
from drift.observability import drift_backends, serve
from drift.run_contract import run_events_channel
from drift.run_events import RunEvents
from drift.storage.hbase import HBaseStore
from drift.temporal_client import connect

from . import events_settings, receiver
from .counters import TriggerCounters
from .kafka_consumers import KafkaConsumers
from .run_records import RunRecorder
from .sender_auth import SenderAuth
from .served import TriggerList
from .starter import Starter

log = logging.getLogger("drift_events")


async def follow_triggers(triggers: TriggerList, consumers: KafkaConsumers, interval: float) -> None:
    """List the triggers every `interval` seconds and keep the consumers in step."""
    while True:
        try:
            consumers.sync(await triggers.refresh())
        except (KubeError, OSError, TimeoutError) as exc:
            log.warning("triggers not listed: %s", exc)
        await asyncio.sleep(interval)


async def record_failures(triggers: TriggerList, recorder: RunRecorder, interval: float) -> None:
    """Every `interval` seconds, record the failed runs of the triggers that record them."""
    while True:
        await asyncio.sleep(interval)
        for trigger in list(triggers.triggers.values()):
            if trigger.spec.runs.record != "Failed":
                continue
            try:
                await recorder.record_failed(trigger)
            except RPCError as exc:
                log.warning("trigger %s/%s: failed runs not looked up: %s", *trigger.key, exc.message)


async def run() -> None:
    """Build the clients and serve until a signal."""
    config = events_settings.load()
    store = HBaseStore(config.hbase)
    cache = DefinitionCache(store, config.redis_url, config.cache)
    kube = Kube("drift-events")
    temporal = await connect(config.temporal)
    await cache.start()
    counters = TriggerCounters(kube)
    triggers = TriggerList(kube, config.watch_namespace)
    recorder = RunRecorder(kube, temporal, counters, triggers, config.record_per_second)
    starter = Starter(cache, temporal, config.temporal.task_queue, recorder)
    consumers = KafkaConsumers(config, starter, counters)
    tasks = [
        asyncio.create_task(follow_triggers(triggers, consumers, config.resync_seconds)),
        asyncio.create_task(counters.run(config.status_seconds)),
        asyncio.create_task(record_failures(triggers, recorder, config.status_seconds)),
        asyncio.create_task(
            RunEvents().subscribe(config.redis_url, run_events_channel(config.table_prefix), recorder.run_event)
        ),
    ]
    http = await receiver.serve(
        receiver.Receiver(triggers, SenderAuth(kube, config.secret_seconds), starter, counters), config.receiver_port
    )

    def live() -> str | None:
        stopped = next((task for task in tasks if task.done()), None)
        return f"{stopped.get_coro().__name__} has stopped" if stopped else None

    endpoint = await serve(config.metrics_port, live, drift_backends(cache.redis.client, store, temporal))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "serving triggers of %s; receiver on port %d", config.watch_namespace or "all namespaces", config.receiver_port
    )
    try:
        await stop.wait()
    finally:
        await http.cleanup()
        await consumers.close()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await counters.write()
        await endpoint.cleanup()
        await cache.close()
        store.close()
        await kube.close()


def main() -> None:
    """Entry point of the `drift-events` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run())


if __name__ == "__main__":
    main()
