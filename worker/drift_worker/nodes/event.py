"""event: waits for a CloudEvent that matches the node's correlation; the event is the node's result."""

from __future__ import annotations

from drift.event_keys import event_key, parse_correlation

from ..graph import ResolvedNode
from ..messages import EventWait
from .base import NodeFailed, Outcome, Runtime, evaluate


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    block = node.event
    assert block is not None
    field, expression = parse_correlation(block.correlation)  # checked when the Workflow was applied
    value = evaluate(expression, runtime.scope(), "event.correlation")
    wait = EventWait(topic=block.source.kafka.topic, type=block.type, field=field,
                     key=event_key(block.source.kafka.topic, block.type, field, value))  # fmt: skip
    event = await runtime.await_event(node, wait)
    if event is not None:
        return Outcome(next=node.next, result=event)
    if block.on_timeout:
        return Outcome(next=block.on_timeout)
    raise NodeFailed("EVENT_TIMEOUT", f"no {block.type} event for {wait.key} within {block.timeout_seconds}s")
