"""`drift-events`: builds settings and clients, then serves the WorkflowTriggers until SIGTERM/SIGINT: one
Kafka consumer per Kafka trigger, the CloudEvents receiver (DRIFT_EVENTS_PORT) and the status counters.

Replicas scale horizontally: Kafka spreads each trigger's partitions over them, any replica answers any
POST, and each adds its own counts to the triggers' status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from drift.cache.definition_cache import DefinitionCache
from drift.kube_client import Kube, KubeError
from drift.observability import drift_backends, serve
from drift.storage.hbase import HBaseStore
from drift.temporal_client import connect

from . import events_settings, receiver
from .counters import TriggerCounters
from .kafka_consumers import KafkaConsumers
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


async def run() -> None:
    """Build the clients and serve until a signal."""
    config = events_settings.load()
    store = HBaseStore(config.hbase)
    cache = DefinitionCache(store, config.redis_url, config.cache)
    kube = Kube("drift-events")
    temporal = await connect(config.temporal)
    await cache.start()
    starter = Starter(cache, temporal, config.temporal.task_queue)
    counters = TriggerCounters(kube)
    triggers = TriggerList(kube, config.watch_namespace)
    consumers = KafkaConsumers(config, starter, counters)
    tasks = [
        asyncio.create_task(follow_triggers(triggers, consumers, config.resync_seconds)),
        asyncio.create_task(counters.run(config.status_seconds)),
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
