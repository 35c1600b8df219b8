"""The http activity as workflow code runs it: the node's timeout and retry policy, failures as NodeFailed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from drift.models.common import RetryPolicy as NodeRetryPolicy

    from .activity_api import RunActivities
    from .graph import ResolvedNode
    from .messages import HttpRequest
    from .nodes import NodeFailed

DEFAULT_NODE_TIMEOUT_SECONDS = 300


async def call_http(request: HttpRequest, node: ResolvedNode) -> tuple[dict[str, Any], int]:
    """Run the http activity under the node's retry policy: (result, attempts)."""
    policy = node.retry or NodeRetryPolicy()
    try:
        result = await workflow.execute_activity_method(
            RunActivities.http_request, request,
            start_to_close_timeout=timedelta(seconds=node.timeout_seconds or DEFAULT_NODE_TIMEOUT_SECONDS),
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


def node_failure(exc: ActivityError, max_attempts: int) -> NodeFailed:
    """The node failure behind an activity error: its code, message and how many attempts were made."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        return NodeFailed(cause.type or "ACTIVITY_FAILED", cause.message, int(details.get("attempt", max_attempts)))
    if isinstance(cause, ActivityTimeout):
        return NodeFailed("TIMEOUT", "the attempt exceeded the node's timeoutSeconds", max_attempts)
    return NodeFailed("ACTIVITY_FAILED", str(cause or exc), max_attempts)
