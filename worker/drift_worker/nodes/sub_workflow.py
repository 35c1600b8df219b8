"""workflow: runs another Workflow (pinned in this one's version) as a child run; the result is its output."""

from __future__ import annotations

from ..graph import ResolvedNode
from .base import Outcome, Runtime


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    return Outcome(next=node.next, result=await runtime.run_workflow(node))
