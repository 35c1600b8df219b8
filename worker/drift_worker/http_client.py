"""The http node's request: egress check, secrets, size limit and the retryable/non-retryable split."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from temporalio.exceptions import ApplicationError

from . import secret_access
from .egress import EgressPolicy
from .messages import HttpRequest

MAX_RESPONSE_BYTES = 1024 * 1024
"""Responses larger than this fail the node (RESPONSE_TOO_LARGE): the context must stay small."""


def failure(code: str, message: str, *, retryable: bool, attempt: int) -> ApplicationError:
    """An activity failure with a stable code (its type) and the attempt it happened on."""
    return ApplicationError(message, {"attempt": attempt}, type=code, non_retryable=not retryable)


async def check_egress(url: str, policy: EgressPolicy, attempt: int) -> None:
    """Refuse URLs whose host resolves to a denied address (before any connection is made)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise failure("INVALID_URL", f"{url!r} is not an http(s) URL", retryable=False, attempt=attempt)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise failure("DNS_ERROR", f"cannot resolve {parts.hostname}: {exc}", retryable=True, attempt=attempt) from None
    refused = policy.denied(str(info[4][0]) for info in infos)
    if refused:
        raise failure("EGRESS_DENIED", f"{parts.hostname} resolves to {refused}, which egress policy denies",
                      retryable=False, attempt=attempt)  # fmt: skip


async def secret_headers(core: k8s.CoreV1Api | None, request: HttpRequest, attempt: int) -> dict[str, str]:
    """Header values read from Secrets now, under the opt-in rules (secret_access): never logged or stored."""
    values = {}
    for header in request.headers_from:
        ref = header.secret_key_ref
        if core is None:
            raise failure(
                "SECRET_UNAVAILABLE", "no Kubernetes access to read Secrets", retryable=False, attempt=attempt
            )
        try:
            secret = await asyncio.to_thread(core.read_namespaced_secret, ref.name, request.namespace)
        except ApiException as exc:
            code = "SECRET_NOT_FOUND" if exc.status == 404 else "SECRET_UNAVAILABLE"
            raise failure(code, f"Secret {ref.name}: {exc.reason}", retryable=exc.status not in (403, 404),
                          attempt=attempt) from None  # fmt: skip
        meta = secret.metadata
        if problem := secret_access.refusal(ref.name, meta.labels, meta.annotations, request.url):
            raise failure("SECRET_NOT_ALLOWED", problem, retryable=False, attempt=attempt)
        data = (secret.data or {}).get(ref.key)
        if data is None:
            raise failure(
                "SECRET_NOT_FOUND", f"Secret {ref.name} has no key {ref.key}", retryable=False, attempt=attempt
            )
        values[header.name] = base64.b64decode(data).decode()
    return values


def _body(content: bytes, content_type: str) -> Any:
    if not content:
        return None
    text = content.decode(errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


async def send(
    client: httpx.AsyncClient, request: HttpRequest, secret_headers: dict[str, str], attempt: int
) -> dict[str, Any]:
    """Send the request; `{status, headers, body}` on 2xx/3xx, else an ApplicationError with the HTTP code.

    Network errors, timeouts, 5xx and 429 are retryable; other 4xx are not.
    """
    headers = {**request.headers, **secret_headers}
    body = None if request.body is None else json.dumps(request.body).encode()
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    try:
        async with client.stream(
            request.method, request.url, params=request.query or None, headers=headers, content=body,
            timeout=request.timeout_seconds,
        ) as response:  # fmt: skip
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise failure("RESPONSE_TOO_LARGE", f"response exceeds {MAX_RESPONSE_BYTES} bytes",
                                  retryable=False, attempt=attempt)  # fmt: skip
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise failure(
            "TIMEOUT", f"no response within {request.timeout_seconds}s", retryable=True, attempt=attempt
        ) from None
    except httpx.TransportError as exc:
        raise failure("NETWORK_ERROR", f"{type(exc).__name__}: {exc}", retryable=True, attempt=attempt) from None
    status = response.status_code
    result = {
        "status": status,
        "headers": {key.lower(): value for key, value in response.headers.items()},
        "body": _body(b"".join(chunks), response.headers.get("content-type", "")),
    }
    if status >= 400:
        retryable = status >= 500 or status == 429
        raise failure(f"HTTP_{status}", f"{request.method} {urlsplit(request.url).path or '/'} answered {status}",
                      retryable=retryable, attempt=attempt)  # fmt: skip
    return result
