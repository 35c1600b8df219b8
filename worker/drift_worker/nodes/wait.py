"""wait: a durable timer, for `seconds` or until the time an expression gives."""

from __future__ import annotations

from datetime import datetime

from ..graph import ResolvedNode
from .base import NodeFailed, Outcome, Runtime, evaluate


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    assert node.wait is not None
    if node.wait.seconds is not None:
        seconds = float(node.wait.seconds)
    else:
        until = evaluate(node.wait.until or "", runtime.scope(), "wait.until")
        try:
            moment = datetime.fromisoformat(str(until).replace("Z", "+00:00"))
        except ValueError:
            raise NodeFailed("INVALID_TIME", f"wait.until: {until!r} is not an RFC 3339 time") from None
        if moment.tzinfo is None:
            raise NodeFailed("INVALID_TIME", f"wait.until: {until!r} has no time zone")
        seconds = (moment - runtime.now()).total_seconds()
    if seconds > 0:
        await runtime.sleep(seconds)
    return Outcome(next=node.next)
