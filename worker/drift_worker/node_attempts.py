"""A side-effect node's activity (http, emit) as workflow code runs it: the node's timeout and retry policy,
failures as NodeFailed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from drift.models.common import RetryPolicy as NodeRetryPolicy

    from .activity_api import SIDE_EFFECT_HEARTBEAT, RunActivities
    from .graph import ResolvedNode
    from .messages import EmitRequest, HttpRequest
    from .nodes import NodeFailed

DEFAULT_NODE_TIMEOUT_SECONDS = 300


class AttemptResult(Protocol):
    attempt: int

    def node_result(self) -> dict[str, Any]: ...


Request = TypeVar("Request")


async def run_attempts(
    activity: Callable[[Any, Request], Awaitable[AttemptResult]], request: Request, node: ResolvedNode
) -> tuple[dict[str, Any], int]:
    """Run `activity` under the node's timeout and retry policy: (the node's result, attempts)."""
    policy = node.retry or NodeRetryPolicy()
    try:
        result = await workflow.execute_activity_method(
            activity, request,
            start_to_close_timeout=timedelta(seconds=node.timeout_seconds or DEFAULT_NODE_TIMEOUT_SECONDS),
            heartbeat_timeout=SIDE_EFFECT_HEARTBEAT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=policy.initial_interval_seconds),
                backoff_coefficient=policy.backoff_coefficient,
                maximum_interval=timedelta(seconds=policy.maximum_interval_seconds),
                maximum_attempts=policy.max_attempts,
            ),
        )  # fmt: skip
    except ActivityError as exc:
        raise node_failure(exc, policy.max_attempts) from None
    return result.node_result(), result.attempt


async def call_http(request: HttpRequest, node: ResolvedNode) -> tuple[dict[str, Any], int]:
    """An http node's request: (result, attempts)."""
    return await run_attempts(RunActivities.http_request, request, node)


async def call_emit(request: EmitRequest, node: ResolvedNode) -> tuple[dict[str, Any], int]:
    """An emit node's event, published at least once: (result, attempts)."""
    return await run_attempts(RunActivities.emit, request, node)


def node_failure(exc: ActivityError, max_attempts: int) -> NodeFailed:
    """The node failure behind an activity error: its code, message and how many attempts were made."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        return NodeFailed(cause.type or "ACTIVITY_FAILED", cause.message, int(details.get("attempt", max_attempts)))
    if isinstance(cause, ActivityTimeout) and cause.type == TimeoutType.HEARTBEAT:
        return NodeFailed("TIMEOUT", "the worker running the attempt stopped (no heartbeat)", max_attempts)
    if isinstance(cause, ActivityTimeout):
        return NodeFailed("TIMEOUT", "the attempt exceeded the node's timeoutSeconds", max_attempts)
    return NodeFailed("ACTIVITY_FAILED", str(cause or exc), max_attempts)
