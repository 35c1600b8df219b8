"""An in-process Drift worker on a private task queue and table prefix, plus a local HTTP server."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from drift.cache.definition_cache import DefinitionCache
from drift.run_contract import QUERY_SNAPSHOT, WORKFLOW_TYPE, RunSnapshot, RunStart, run_events_channel
from drift.settings import redis_url
from drift.storage.hbase import HBaseStore
from drift.stored_definition import StoredDefinition
from drift_worker.map_batch import MapBatchWorkflow
from drift_worker.run_event_publisher import RunEventPublisher
from drift_worker.workflow import DriftRunWorkflow


@dataclass
class Drift:
    """Publishes definitions and starts runs the way the operator does."""

    client: Client
    cache: DefinitionCache
    store: HBaseStore
    task_queue: str
    namespace: str = "default"

    async def publish_node(self, name: str, spec: dict[str, Any]) -> StoredDefinition:
        node = StoredDefinition.build("node", self.namespace, name, spec, None)
        await self.cache.publish(node)
        return node

    async def publish_workflow(
        self,
        name: str,
        spec: dict[str, Any],
        pins: dict[str, str] | None = None,
        children: dict[str, str] | None = None,
    ) -> StoredDefinition:
        """Store a workflow version; `pins`: ref node name -> NodeDefinition version, `children`: workflow node
        name -> child Workflow version, as the operator resolves them."""
        workflow = StoredDefinition.build("workflow", self.namespace, name, spec, pins or {}, workflow_pins=children)
        await self.cache.publish(workflow)
        return workflow

    async def start(
        self, workflow: StoredDefinition, run_input: dict[str, Any] | None = None, **options: Any
    ) -> WorkflowHandle:
        run_id = str(uuid.uuid4())
        start = RunStart(
            namespace=self.namespace, run_name=f"run-{run_id[:8]}", run_uid=run_id, input=run_input or {},
            workflow_name=workflow.name, workflow_version=workflow.version,
        )  # fmt: skip
        return await self.client.start_workflow(
            WORKFLOW_TYPE, start, id=f"{self.namespace}/{start.run_name}/{run_id}", task_queue=self.task_queue,
            result_type=RunSnapshot, **options,
        )  # fmt: skip

    async def run(self, spec: dict[str, Any], run_input: dict[str, Any] | None = None, name: str = "wf") -> RunSnapshot:
        handle = await self.start(await self.publish_workflow(name, spec), run_input)
        return await handle.result()


async def replays(handle: WorkflowHandle) -> None:
    """The run's history replays on today's workflow code without a nondeterminism error."""
    replayer = Replayer(workflows=[DriftRunWorkflow, MapBatchWorkflow], data_converter=pydantic_data_converter)
    assert (await replayer.replay_workflow(await handle.fetch_history())).replay_failure is None


async def snapshot_when(handle: WorkflowHandle, predicate: Any, within: float = 10) -> RunSnapshot:
    """Query the run's snapshot until `predicate` holds (fails the test after `within` seconds)."""
    async with asyncio.timeout(within):
        while True:
            snapshot = await handle.query(QUERY_SNAPSHOT, result_type=RunSnapshot)
            if predicate(snapshot):
                return snapshot
            await asyncio.sleep(0.05)


def private_store(settings) -> HBaseStore:  # type: ignore[no-untyped-def]
    return HBaseStore(dataclasses.replace(settings, table_prefix=f"w{uuid.uuid4().hex[:6]}_"))


def publisher(store: HBaseStore) -> RunEventPublisher:
    """Run events on the store's private channel (the stack's operator does not listen there)."""
    return RunEventPublisher(redis_url(), run_events_channel(store.settings.table_prefix))


@dataclass
class EchoServer:
    """Loopback HTTP endpoints for http nodes; counts the calls per path."""

    calls: Counter[str] = field(default_factory=Counter)
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """CloudEvents posted to /events: content type and body."""
    url: str = ""

    def app(self) -> web.Application:
        async def order(request: web.Request) -> web.Response:
            self.calls["order"] += 1
            self.seen_headers.append(dict(request.headers))
            return web.json_response({"id": request.match_info["id"], "amount": 120, "q": request.query.get("q")})

        async def echo(request: web.Request) -> web.Response:
            self.calls["echo"] += 1
            return web.json_response({"got": await request.json()}, status=201)

        async def flaky(request: web.Request) -> web.Response:
            self.calls["flaky"] += 1
            failures = int(request.query.get("fail", "2"))
            if self.calls["flaky"] <= failures:
                return web.json_response({"error": "busy"}, status=int(request.query.get("status", "503")))
            return web.json_response({"ok": True})

        async def status(request: web.Request) -> web.Response:
            self.calls[f"status{request.match_info['code']}"] += 1
            return web.json_response({"error": "nope"}, status=int(request.match_info["code"]))

        async def big(_: web.Request) -> web.Response:
            self.calls["big"] += 1
            return web.Response(body=b"x" * (2 * 1024 * 1024))

        async def sized(request: web.Request) -> web.Response:
            self.calls["sized"] += 1
            return web.Response(text="x" * int(request.match_info["size"]))

        async def event(request: web.Request) -> web.Response:
            self.calls["events"] += 1
            self.events.append({"content_type": request.headers.get("Content-Type"), "body": await request.json()})
            if self.calls["events"] <= int(request.query.get("fail", "0")):
                return web.json_response({"error": "busy"}, status=int(request.query.get("status", "503")))
            return web.Response(status=202)

        app = web.Application()
        app.router.add_post("/events", event)
        app.router.add_get("/orders/{id}", order)
        app.router.add_post("/echo", echo)
        app.router.add_get("/flaky", flaky)
        app.router.add_get("/status/{code}", status)
        app.router.add_get("/big", big)
        app.router.add_get("/sized/{size}", sized)
        return app


async def start_echo_server() -> tuple[EchoServer, web.AppRunner]:
    server = EchoServer()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    return server, runner


def temporal_address() -> str:
    return os.environ["DRIFT_TEMPORAL_ADDRESS"]
