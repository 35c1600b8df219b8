"""instruction: waits for a human; the accepted resume input is the node's result."""

from __future__ import annotations

from ..graph import ResolvedNode
from .base import NodeFailed, Outcome, Runtime, render


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    assert node.instruction is not None
    message = str(render(node.instruction.message, runtime.scope(), "instruction.message"))
    answer = await runtime.wait_for_input(node, message)
    if answer is not None:
        return Outcome(next=node.next, result=answer)
    if node.instruction.on_timeout:
        return Outcome(next=node.instruction.on_timeout)
    raise NodeFailed("INSTRUCTION_TIMEOUT", f"no answer within {node.instruction.timeout_seconds}s")
