"""Node types: one module each behind the `NodeHandler` protocol, registered in `HANDLERS`.

Pure nodes (branch, processor, script, success, failure) evaluate in the workflow itself, with no
round trip to the Temporal server; http and emit run as activities, wait as a durable timer, instruction as a
wait for the `resume` update; parallel, map and workflow run other nodes (scopes.py) or a child run.
None does I/O itself: what needs I/O goes through the `Runtime`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..graph import ResolvedNode
from . import (
    branch,
    emit,
    failure,
    http,
    instruction,
    map_each,
    parallel,
    processor,
    script,
    sub_workflow,
    success,
    wait,
)
from .base import NodeFailed, Outcome, Runtime

NodeHandler = Callable[[ResolvedNode, Runtime], Awaitable[Outcome]]

HANDLERS: dict[str, NodeHandler] = {
    "branch": branch.run,
    "processor": processor.run,
    "script": script.run,
    "success": success.run,
    "failure": failure.run,
    "http": http.run,
    "emit": emit.run,
    "wait": wait.run,
    "instruction": instruction.run,
    "parallel": parallel.run,
    "map": map_each.run,
    "workflow": sub_workflow.run,
}
PURE_TYPES = frozenset({"branch", "processor", "script", "success", "failure"})
SLOW_TYPES = frozenset({"http", "emit", "wait", "workflow"})
"""Types that take time (I/O, a timer, a child run): the status shows them as current while they run."""

__all__ = ["HANDLERS", "PURE_TYPES", "SLOW_TYPES", "NodeFailed", "NodeHandler", "Outcome", "Runtime"]
