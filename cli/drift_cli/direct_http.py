"""The http node's call outside Temporal: the worker's own request code under the node's retry policy.

`drift_worker.http_client` does the request (egress check, status handling, body parsing, size limit);
what Temporal does for the worker (retry with backoff, the attempt timeout) is done here, in the same terms
as DriftRunWorkflow.call_http: a retryable failure is tried again until `maxAttempts`, then the node fails
with the code and the attempt count the worker would report.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes.client.exceptions import ApiException
from temporalio.exceptions import ApplicationError

from drift.models.common import RetryPolicy
from drift_worker import http_client, secret_access
from drift_worker.egress import DEFAULT_DENY, EgressPolicy, parse_cidrs
from drift_worker.graph import ResolvedNode
from drift_worker.messages import HttpRequest
from drift_worker.nodes import NodeFailed

DEFAULT_NODE_TIMEOUT_SECONDS = 300
Attempt = Callable[[int], Awaitable[dict[str, Any]]]


def egress_policy(env: dict[str, str]) -> EgressPolicy:
    """The worker's egress policy from the same variables (DRIFT_EGRESS_DENY_CIDRS / _ALLOW_CIDRS)."""
    deny = parse_cidrs(",".join([*DEFAULT_DENY, env.get("DRIFT_EGRESS_DENY_CIDRS", "")]))
    return EgressPolicy(deny=deny, allow=parse_cidrs(env.get("DRIFT_EGRESS_ALLOW_CIDRS", "")))


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


async def secret_headers(core: Any, request: HttpRequest, attempt: int) -> dict[str, str]:
    """Header values from Secrets, under the worker's rules (opt-in label, allowed hosts)."""
    values = {}
    for header in request.headers_from:
        ref = header.secret_key_ref
        if core is None:
            raise http_client.failure("SECRET_UNAVAILABLE", "no Kubernetes access to read Secrets",
                                      retryable=False, attempt=attempt)  # fmt: skip
        try:
            secret = await asyncio.to_thread(core.read_namespaced_secret, ref.name, request.namespace)
        except ApiException as exc:
            raise http_client.failure("SECRET_NOT_FOUND" if exc.status == 404 else "SECRET_UNAVAILABLE",
                                      f"Secret {ref.name}: {exc.reason}", retryable=exc.status not in (403, 404),
                                      attempt=attempt) from None  # fmt: skip
        if problem := secret_access.refusal(ref.name, secret.metadata.labels, secret.metadata.annotations, request.url):
            raise http_client.failure("SECRET_NOT_ALLOWED", problem, retryable=False, attempt=attempt)
        data = (secret.data or {}).get(ref.key)
        if data is None:
            raise http_client.failure("SECRET_NOT_FOUND", f"Secret {ref.name} has no key {ref.key}",
                                      retryable=False, attempt=attempt)  # fmt: skip
        values[header.name] = base64.b64decode(data).decode()
    return values
