"""success: ends the run as Succeeded with an optional output and message."""

from __future__ import annotations

from ..graph import ResolvedNode
from .base import Outcome, Runtime, evaluate, render


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    block = node.success
    variables = runtime.scope()
    output = evaluate(block.output, variables, "success.output") if block and block.output else None
    message = render(block.message, variables, "success.message") if block else None
    return Outcome(end="Succeeded", run_output=output, message=str(message) if message is not None else None)
