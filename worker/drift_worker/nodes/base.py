"""What a node handler returns, how it fails, and what it may ask of the running workflow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from drift.expressions import ExpressionError, compile_expression, compile_template, render_json
from drift.models.run import RunError

from ..values import to_json

NO_RESULT = object()
"""A node that produces nothing for the context (branch, wait, success, failure)."""


@dataclass
class Outcome:
    """The end of one node execution."""

    next: str | None = None
    """Node to run next; None when the run ends here."""
    result: Any = NO_RESULT
    """Raw result, stored in the context under the node's key after its output mapping."""
    updates: dict[str, Any] = field(default_factory=dict)
    """Context keys written directly (processor)."""
    end: Literal["Succeeded", "Failed"] | None = None
    """The run's final phase, for success and failure nodes."""
    run_output: Any = None
    run_error: RunError | None = None
    message: str | None = None
    attempts: int = 1


class NodeFailed(Exception):
    """A node failed for good (after its retries): the run goes to onError, onFailure, or fails."""

    def __init__(self, code: str, message: str, attempts: int = 1, path: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.attempts = attempts
        self.path = path
        """Where inside a parallel, map or sub-workflow node it failed (`checks/credit/score`)."""


class Runtime(Protocol):
    """The workflow's services to node handlers (implemented by the DriftRun workflow)."""

    @property
    def namespace(self) -> str:
        """The WorkflowRun's namespace (where http nodes read their Secrets)."""
        ...

    def scope(self, **extra: Any) -> dict[str, Any]:
        """Expression variables: input, context, error, plus `extra` (e.g. result)."""
        ...

    def now(self) -> datetime:
        """Deterministic workflow time."""
        ...

    async def call_http(self, request: Any, node: Any) -> tuple[dict[str, Any], int]:
        """Run the http activity under the node's retry policy: (result, attempts)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """A durable timer."""
        ...

    async def wait_for_input(self, node: Any, message: str) -> dict[str, Any] | None:
        """Wait for an accepted resume of `node` (None on the node's timeout)."""
        ...

    async def run_parallel(self, node: Any) -> dict[str, Any]:
        """Run a parallel node's branches and join them: each branch's output by name."""
        ...

    async def run_map(self, node: Any) -> list[Any]:
        """Run a map node's item scope for each item: the outputs in input order."""
        ...

    async def run_workflow(self, node: Any) -> Any:
        """Run a workflow node's child Workflow: its output."""
        ...

    @property
    def workflow_name(self) -> str:
        """The Workflow being run (an emitted event's `source` names it)."""
        ...

    def event_id(self, node: str) -> str:
        """A new id for an event `node` emits, the same on every attempt and replay."""
        ...

    async def emit(self, request: Any, node: Any) -> tuple[dict[str, Any], int]:
        """Run the emit activity under the node's retry policy: (result, attempts)."""
        ...


def run_scope(
    run_input: dict[str, Any], context: dict[str, Any], error: RunError | None, **extra: Any
) -> dict[str, Any]:
    """The variables a node's expressions see: `input`, `context`, `error` (in failure handling), `result`,
    `item` and `index` (in a map item), `compensating` (in a compensation)."""
    return {"input": run_input, "context": context, "error": error.model_dump(mode="json") if error else None,
            "result": None, "item": None, "index": None, "compensating": None, **extra}  # fmt: skip


def node_updates(node: Any, outcome: Outcome, scope: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """What the node writes into its context: its result under its output key (after its output expression),
    and the keys it sets directly (processor)."""
    updates = dict(outcome.updates)
    if outcome.result is not NO_RESULT:
        value = outcome.result
        if node.output and node.output.expression:
            value = evaluate(node.output.expression, scope(result=value), "output.expression")
        updates = {node.output_key: value, **updates}
    return updates


def evaluate(source: str, variables: dict[str, Any], where: str) -> Any:
    """Evaluate an expression as JSON, turning its errors into a node failure naming the field."""
    try:
        return to_json(compile_expression(source).evaluate(variables))
    except ExpressionError as exc:
        raise NodeFailed("EXPRESSION_ERROR", f"{where}: {exc}") from None


def render(text: str | None, variables: dict[str, Any], where: str) -> Any:
    """Render a template as JSON (a lone template keeps its type)."""
    if text is None:
        return None
    try:
        return to_json(compile_template(text).render(variables))
    except ExpressionError as exc:
        raise NodeFailed("EXPRESSION_ERROR", f"{where}: {exc}") from None


def render_text(template: str, variables: dict[str, Any], where: str) -> str:
    """Render a template as text (a header, a URL, a key): JSON null is empty, other values their str()."""
    value = render(template, variables, where)
    return value if isinstance(value, str) else "" if value is None else str(value)


def render_body(value: Any, variables: dict[str, Any], where: str) -> Any:
    """Render every string leaf of a JSON value (an HTTP body) as a template."""
    try:
        return to_json(render_json(value, variables))
    except ExpressionError as exc:
        raise NodeFailed("EXPRESSION_ERROR", f"{where}: {exc}") from None
