"""The CloudEvents receiver: `POST /triggers/{namespace}/{name}`, binary or structured mode.

Answers: 202 a run was started, 200 the event was filtered out or its run had been started before (a
retry), 400 a malformed event (the message names the problem), 401 no valid token or signature (nothing is
started), 404 no such trigger served here, 413 a body over 1 MiB, 422 the event starts no run (a template
failed on it, the input does not fit the Workflow), 503 Temporal, HBase or Redis cannot be reached or the
Workflow is not Ready (the sender retries; `Retry-After`).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from drift.kube_client import KubeError

from .cloud_events import MalformedEvent, from_http
from .counters import TriggerCounters
from .events_settings import MAX_BODY_BYTES
from .sender_auth import SenderAuth
from .served import Served, TriggerList
from .starter import Starter, TryLater

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"
ANSWERS = {"started": 202, "duplicate": 200, "filtered": 200, "failed": 422}


def _answer(status: int, **body: Any) -> web.Response:
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return web.json_response({key: value for key, value in body.items() if value}, status=status, headers=headers)


class Receiver:
    """The receiver's request handler."""

    def __init__(self, triggers: TriggerList, auth: SenderAuth, starter: Starter, counters: TriggerCounters) -> None:
        self._triggers = triggers
        self._auth = auth
        self._starter = starter
        self._counters = counters

    async def post(self, request: web.Request) -> web.Response:
        """One CloudEvent: checked, then its run started (or not)."""
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        trigger = self._triggers.get(namespace, name)
        if trigger is None or trigger.spec.source.cloud_events is None:
            return _answer(404, error=f"no CloudEvents trigger {namespace}/{name} is served here")
        event = await self._event(request, trigger)
        if isinstance(event, web.Response):
            return event
        self._counters.received(namespace, name, trigger.uid)
        try:
            outcome = await self._starter.handle(trigger, event)
        except TryLater as exc:
            return _answer(503, error=str(exc))
        self._counters.outcome(namespace, name, trigger.uid, outcome, "http")
        return _answer(
            ANSWERS[outcome.kind],
            outcome=outcome.kind,
            run=outcome.run,
            workflowId=outcome.workflow_id,
            error=outcome.detail,
        )

    async def _event(self, request: web.Request, trigger: Served) -> dict[str, Any] | web.Response:
        """The request's event, or the refusal: 413 too large, 503 Secret unreadable, 401 not allowed, 400 malformed."""
        too_large = _answer(413, error=f"the body is larger than {MAX_BODY_BYTES} bytes")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return too_large
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return too_large
        assert trigger.spec.source.cloud_events is not None
        try:
            allowed = await self._auth.allows(
                trigger.namespace, trigger.spec.source.cloud_events.auth, request.headers, body
            )
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("trigger %s/%s: its Secret could not be read: %s", *trigger.key, exc)
            return _answer(503, error="the trigger's Secret cannot be read now")
        if not allowed:
            return _answer(401, error="a valid token or X-Drift-Signature is required")
        try:
            return from_http(request.headers, body)
        except MalformedEvent as exc:
            return _answer(400, error=str(exc))


async def serve(receiver: Receiver, port: int, host: str = "0.0.0.0") -> web.AppRunner:  # noqa: S104 - senders come from outside the pod
    """Start the receiver in the running event loop."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/triggers/{namespace}/{name}", receiver.post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
