"""parallel: runs its branches concurrently and joins them; the result is each branch's output by name."""

from __future__ import annotations

from ..graph import ResolvedNode
from .base import Outcome, Runtime


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    return Outcome(next=node.next, result=await runtime.run_parallel(node))
