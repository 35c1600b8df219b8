"""map: runs its item scope once per item of a list; the result is the item outputs in input order."""

from __future__ import annotations

from ..graph import ResolvedNode
from .base import Outcome, Runtime


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    return Outcome(next=node.next, result=await runtime.run_map(node))
