"""processor: several context keys at once, all computed from the context before the node."""

from __future__ import annotations

from ..graph import ResolvedNode
from .base import Outcome, Runtime, evaluate


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    assert node.processor is not None
    variables = runtime.scope()
    updates = {
        key: evaluate(expression, variables, f"processor.set.{key}")
        for key, expression in node.processor.assignments.items()
    }
    return Outcome(next=node.next, updates=updates)
