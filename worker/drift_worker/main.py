"""`drift-worker`: builds settings and clients, then runs the Temporal worker until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from drift.cache.definition_cache import DefinitionCache
from drift.event_inbox import EventInbox
from drift.observability import drift_backends, metrics_port, serve
from drift.run_contract import run_events_channel
from drift.settings import cache_settings, hbase_settings, redis_url, temporal_settings
from drift.storage.hbase import HBaseStore
from drift.temporal_client import BUILD_ID, connect

from .activities import DriftActivities
from .context_values import ContextLimits
from .egress import policy_from_env
from .event_dispatcher import EventDispatcher
from .map_batch import MapBatchWorkflow
from .run_event_publisher import RunEventPublisher
from .workflow import DriftRunWorkflow

log = logging.getLogger("drift_worker")

SANDBOX = SandboxRestrictions.default.with_passthrough_modules("drift", "drift_worker", "cel", "jsonschema")
"""Drift's own modules hold no mutable module state, so the sandbox imports them once instead of once per
workflow instance (measured: about 12 ms saved per run start); the sandbox still guards the calls."""
WORKFLOW_TASKS = 16
"""Workflow tasks run at once (DRIFT_WORKER_WORKFLOW_TASKS), and as many polls for them. They share one GIL:
with Temporal's default (100) every task of 100 busy runs waits for all the others and lasts seconds (past
10 s Temporal times it out and retries, which adds load). Too few leave no poll waiting at the server when
tasks arrive in a burst: a task that finds none goes to the task queue's backlog in the server's database,
and while that backlog holds a task every new one goes through it too (measured: with 4 slots and 5 polls, 180
of 200 resume tasks sent at 40 a second took the backlog; with 16 and 16, 61)."""


def context_limits(env: Mapping[str, str]) -> ContextLimits:
    """DRIFT_CONTEXT_INLINE_BYTES (default 64 KiB) and DRIFT_CONTEXT_MAX_BYTES (default 64 MiB)."""
    default = ContextLimits()
    return ContextLimits(
        inline_bytes=int(env.get("DRIFT_CONTEXT_INLINE_BYTES", default.inline_bytes)),
        max_bytes=int(env.get("DRIFT_CONTEXT_MAX_BYTES", default.max_bytes)),
    )


def kubernetes_core() -> k8s.CoreV1Api | None:
    """Core API for reading Secrets: in-cluster config, else KUBECONFIG; None (http headersFrom fails) if neither."""
    try:
        k8s_config.load_incluster_config()
    except k8s_config.ConfigException:
        try:
            k8s_config.load_kube_config()
        except (k8s_config.ConfigException, OSError):
            log.warning("no Kubernetes configuration: http nodes with headersFrom will fail")
            return None
    return k8s.CoreV1Api()


def new_worker(
    temporal: Client, task_queue: str, activities: DriftActivities, workflow_tasks: int = WORKFLOW_TASKS
) -> Worker:
    """The worker: the DriftRun workflow and its activities on `task_queue`, `workflow_tasks` tasks at once."""
    return Worker(
        temporal,
        task_queue=task_queue,
        workflows=[DriftRunWorkflow, MapBatchWorkflow],
        build_id=BUILD_ID,
        activities=[
            activities.load_graph,
            activities.http_request,
            activities.emit,
            activities.register_wait,
            activities.unregister_wait,
            activities.persist_progress,
            activities.store_value,
            activities.load_value,
            activities.checkpoint,
        ],
        max_concurrent_workflow_tasks=workflow_tasks,
        max_concurrent_workflow_task_polls=workflow_tasks,
        max_concurrent_activities=200,
        max_concurrent_local_activities=200,
        workflow_runner=SandboxedWorkflowRunner(restrictions=SANDBOX),
    )


async def run_worker(env: Mapping[str, str]) -> None:
    """Connect everything, serve metrics, run the worker until a stop signal, then drain and close."""
    store = HBaseStore(hbase_settings(env))
    await store.ensure_tables()
    cache = DefinitionCache(store, redis_url(env), cache_settings(env))
    await cache.start()
    temporal_config = temporal_settings(env)
    temporal = await connect(temporal_config)
    events = RunEventPublisher(redis_url(env), run_events_channel(store.settings.table_prefix))
    limits = context_limits(env)
    activities = DriftActivities(cache, store, events, kubernetes_core(), policy_from_env(env), limits=limits,
                                 kafka_bootstrap=env.get("DRIFT_KAFKA_BOOTSTRAP"))  # fmt: skip
    workflow_tasks = int(env.get("DRIFT_WORKER_WORKFLOW_TASKS", WORKFLOW_TASKS))
    worker = new_worker(temporal, temporal_config.task_queue, activities, workflow_tasks)

    def live() -> str | None:
        """The worker's pollers run (a fatal poll error shuts the worker down); Temporal being down is not fatal."""
        return None if worker.is_running else "the Temporal worker is not running"

    endpoint = await serve(metrics_port(env), live, drift_backends(cache.redis.client, store, temporal))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    log.info("drift-worker polling task queue %s", worker.task_queue)
    bootstrap = env.get("DRIFT_KAFKA_BOOTSTRAP")
    dispatcher = EventDispatcher(bootstrap, EventInbox(store), temporal) if bootstrap else None
    dispatching = asyncio.create_task(dispatcher.run()) if dispatcher else None
    async with worker:
        await stop.wait()
        log.info("stopping: finishing in-flight tasks")
    if dispatcher is not None and dispatching is not None:
        dispatcher.stop()
        await dispatching
    await endpoint.cleanup()
    await activities.close()
    await cache.close()
    store.close()


def main() -> None:
    """Entry point of the `drift-worker` console script."""
    logging.basicConfig(
        level=os.environ.get("DRIFT_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise, URLs may carry ids
    asyncio.run(run_worker(dict(os.environ)))


if __name__ == "__main__":
    main()
