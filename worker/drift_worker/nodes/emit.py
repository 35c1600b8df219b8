"""emit: renders a CloudEvent in the workflow, publishes it as an activity under the node's retry policy.

The event's id and time are fixed here, before the first attempt, so every retry (and a replay) sends the
same event and a consumer recognises a duplicate by its id.
"""

from __future__ import annotations

from ..graph import ResolvedNode
from ..messages import EmitRequest, HttpRequest
from .base import NodeFailed, Outcome, Runtime, render_body, render_text

CONTENT_TYPE = "application/cloudevents+json"
DEFAULT_TIMEOUT_SECONDS = 30.0


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    block = node.emit
    assert block is not None
    variables = runtime.scope()
    data = render_body(block.data, variables, "emit.data")
    if data is not None and not isinstance(data, dict):
        raise NodeFailed("EXPRESSION_ERROR", f"emit.data: must give an object, not {type(data).__name__}")
    attributes = {"id": runtime.event_id(node.name), "source": f"drift/{runtime.namespace}/{runtime.workflow_name}",
                  "type": block.type, "time": runtime.now().isoformat()}  # fmt: skip
    if block.subject is not None:
        attributes["subject"] = render_text(block.subject, variables, "emit.subject")
    kafka, http = block.sink.kafka, block.sink.http
    request = EmitRequest(attributes=attributes, data=data)
    if kafka is not None:
        key = render_text(kafka.key, variables, "emit.sink.kafka.key") if kafka.key is not None else None
        request = request.model_copy(update={"topic": kafka.topic, "key": key})
    else:
        assert http is not None
        headers = {name: render_text(value, variables, f"emit.sink.http.headers.{name}")
                   for name, value in http.headers.items()}  # fmt: skip
        post = HttpRequest(namespace=runtime.namespace, method="POST",
                           url=render_text(http.url, variables, "emit.sink.http.url"),
                           headers={**headers, "Content-Type": CONTENT_TYPE}, headers_from=http.headers_from,
                           timeout_seconds=DEFAULT_TIMEOUT_SECONDS)  # fmt: skip
        request = request.model_copy(update={"http": post})
    result, attempts = await runtime.emit(request, node)
    return Outcome(next=node.next, result=result, attempts=attempts)
