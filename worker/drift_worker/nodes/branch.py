"""branch: the first choice whose condition holds picks the next node, else `default`."""

from __future__ import annotations

from ..graph import ResolvedNode
from .base import NodeFailed, Outcome, Runtime, evaluate


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    variables = runtime.scope()
    for index, choice in enumerate(node.choices):
        if evaluate(choice.when, variables, f"choices[{index}].when") is True:
            return Outcome(next=choice.next)
    if node.default is None:
        raise NodeFailed("NO_CHOICE_MATCHED", "no choice held and the branch has no default")
    return Outcome(next=node.default)
