"""script: one side-effect-free CEL expression whose value is the node's result."""

from __future__ import annotations

from ..graph import ResolvedNode
from .base import Outcome, Runtime, evaluate


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    assert node.script is not None
    return Outcome(next=node.next, result=evaluate(node.script.expression, runtime.scope(), "script.expression"))
