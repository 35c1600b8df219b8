"""failure: ends the run as Failed with an error code; `error` holds the failure being handled, if any."""

from __future__ import annotations

from drift.models.run import RunError

from ..graph import ResolvedNode
from .base import Outcome, Runtime, render


async def run(node: ResolvedNode, runtime: Runtime) -> Outcome:
    assert node.failure is not None
    variables = runtime.scope()
    rendered = render(node.failure.message, variables, "failure.message")
    message = str(rendered) if rendered is not None else node.failure.code
    handled = variables.get("error") or {}
    error = RunError(node=handled.get("node") or node.name, code=node.failure.code, message=message)
    return Outcome(end="Failed", run_error=error, message=message)
