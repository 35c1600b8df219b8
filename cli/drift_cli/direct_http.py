"""The http node's call outside Temporal: the worker's own request code under the node's retry policy.

`drift_worker.http_client` does the request (egress check, status handling, body parsing, size limit);
what Temporal does for the worker (retry with backoff, the attempt timeout) is done here, in the same terms
as DriftRunWorkflow.call_http: a retryable failure is tried again until `maxAttempts`, then the node fails
with the code and the attempt count the worker would report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.exceptions import ApplicationError

from drift.models.common import RetryPolicy
from drift_worker.graph import ResolvedNode
from drift_worker.nodes import NodeFailed

DEFAULT_NODE_TIMEOUT_SECONDS = 300
Attempt = Callable[[int], Awaitable[dict[str, Any]]]


async def with_retries(
    node: ResolvedNode, attempt: Attempt, sleep: Callable[[float], Awaitable[None]]
) -> tuple[dict[str, Any], int]:
    """(result, attempts), or NodeFailed after the last attempt or a non-retryable failure."""
    policy = node.retry or RetryPolicy()
    timeout = node.timeout_seconds or DEFAULT_NODE_TIMEOUT_SECONDS
    interval = policy.initial_interval_seconds
    for number in range(1, policy.max_attempts + 1):
        try:
            return await asyncio.wait_for(attempt(number), timeout), number
        except TimeoutError:
            failure = NodeFailed("TIMEOUT", "the attempt exceeded the node's timeoutSeconds", number)
            retryable = True
        except ApplicationError as exc:
            failure = NodeFailed(exc.type or "ACTIVITY_FAILED", exc.message, number)
            retryable = not exc.non_retryable
        if not retryable or number == policy.max_attempts:
            raise failure
        await sleep(interval)
        interval = min(interval * policy.backoff_coefficient, policy.maximum_interval_seconds)
    raise AssertionError("unreachable")
