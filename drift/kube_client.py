"""Kubernetes calls of the operator (besides kopf's) and drift-events: status patches, runs created for
schedules and triggers, lists, patches, Events, Secrets, deletes.

Async over one aiohttp session (no thread pool): a status write costs one round trip and a coroutine, so
hundreds of runs' writes can be in flight at once. The credentials come from the official client's loaders
(in-cluster ServiceAccount, else KUBECONFIG), read again per request where they rotate (tokens).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kubernetes

from .conditions import timestamp
from .models.resources import GROUP, VERSION

log = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
RETRIES = 5
"""Attempts of a request the API server answered 429 or 503 (each after its Retry-After, at most 5 s)."""


class KubeError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def namespace_terminating(exc: BaseException) -> bool:
    """The API server refused to create an object in a namespace that is being deleted (403)."""
    return isinstance(exc, KubeError) and exc.status == 403 and "is being terminated" in exc.reason


def _configuration() -> kubernetes.client.Configuration:
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.Configuration.get_default_copy()


def _ssl_context(config: kubernetes.client.Configuration) -> ssl.SSLContext | bool:
    if not config.verify_ssl:
        return False
    context = ssl.create_default_context(cafile=config.ssl_ca_cert)
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    return context


class Kube:
    """Patches, Events, gets and deletes, async (aiohttp), one connection pool.

    `component`: the source of the Events it records (drift-operator, drift-events).
    """

    def __init__(self, component: str, connections: int = 32) -> None:
        self._component = component
        self._config = _configuration()
        self._host = self._config.host.rstrip("/")
        self._ssl = _ssl_context(self._config)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self._config.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["Authorization"] = token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on the running loop
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def _request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> dict[str, Any] | None:
        """The decoded answer; None for 404; KubeError for any other error status.

        429 and 503 (the API server starting or shedding load) are retried after its Retry-After, a few times.
        """
        session = self._open()
        attempt = 1
        while True:
            async with session.request(
                method, f"{self._host}{path}", json=body, headers=self._headers(content_type)
            ) as response:
                if response.status not in (429, 503) or attempt == RETRIES:
                    if response.status == 404:
                        return None
                    if response.status >= 400:
                        raise KubeError(response.status, (await response.text())[:500])
                    return await response.json()
                delay = min(float(response.headers.get("Retry-After") or 1), 5.0)
            attempt += 1
            await asyncio.sleep(delay)

    @staticmethod
    def _path(plural: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        path = f"/apis/{GROUP}/{VERSION}"
        path += f"/namespaces/{namespace}/{plural}" if namespace else f"/{plural}"
        return path + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None if it is gone."""
        return await self._request("GET", self._path(plural, namespace, name))

    async def names(self, plural: str, namespace: str | None) -> set[tuple[str, str]]:
        """(namespace, name) of every object of `plural`, in `namespace` or (None) the whole cluster."""
        listed = await self._request("GET", self._path(plural, namespace)) or {}
        return {(item["metadata"]["namespace"], item["metadata"]["name"]) for item in listed.get("items", ())}

    async def delete(self, plural: str, namespace: str, name: str, uid: str) -> None:
        """Delete the object if it is still the one with `uid` (a re-created namesake stays); gone is fine."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
        try:
            await self._request("DELETE", self._path(plural, namespace, name), body)
        except KubeError as exc:
            if exc.status != 409:
                raise

    async def items(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of `plural`, in `namespace` or (None) the whole cluster."""
        listed = await self._request("GET", self._path(plural, namespace)) or {}
        return list(listed.get("items", ()))

    async def page(self, plural: str, namespace: str | None, limit: int, token: str = "") -> dict[str, Any]:
        """One page of the objects of `plural` (server-side paging: `limit` objects, from the list `token`
        of the page before): its `items` and `metadata` (`resourceVersion`, `continue`: "" on the last)."""
        query = f"?limit={limit}" + (f"&continue={token}" if token else "")
        return await self._request("GET", self._path(plural, namespace) + query) or {}

    async def watch(
        self, plural: str, namespace: str | None, resource_version: str, seconds: int
    ) -> AsyncIterator[dict[str, Any]]:
        """The watch events (`type`, `object`) of `plural` after `resource_version`, with bookmarks, until the
        API server ends the watch (after `seconds`); KubeError if it refuses it."""
        query = f"?watch=1&allowWatchBookmarks=true&resourceVersion={resource_version}&timeoutSeconds={seconds}"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=seconds + 30)
        async with self._open().get(
            f"{self._host}{self._path(plural, namespace)}{query}", headers=self._headers(None), timeout=timeout
        ) as response:
            if response.status >= 400:
                raise KubeError(response.status, (await response.text())[:500])
            pending = b""  # an object may be longer than aiohttp's line limit: split the stream here
            async for chunk in response.content.iter_any():
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret, or None if there is none."""
        return await self._request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: Mapping[str, Any], resource_version: str | None = None
    ) -> dict[str, Any] | None:
        """Merge-patch `status` (None values delete fields); the updated object, or None if it is gone.

        With `resource_version` the patch applies only to that version of the object (KubeError 409 if it
        changed since).
        """
        path = self._path(plural, namespace, name, "status")
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        return await self._request("PATCH", path, body, MERGE_PATCH)

    async def create(self, plural: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create the object; None if one of that name exists already."""
        try:
            return await self._request("POST", self._path(plural, namespace), dict(body))
        except KubeError as exc:
            if exc.status == 409:
                return None
            raise

    async def patch(self, plural: str, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        """Merge-patch the object (not its status); gone is fine."""
        await self._request("PATCH", self._path(plural, namespace, name), dict(body), MERGE_PATCH)

    async def annotate(self, plural: str, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        """Merge-patch annotations (used to re-trigger the reconcile of another object); gone is fine."""
        await self.patch(plural, namespace, name, {"metadata": {"annotations": dict(annotations)}})

    async def event(self, obj: Mapping[str, Any], kind: str, event_type: str, reason: str, message: str) -> None:
        """Record a Kubernetes Event on `obj` (a body with metadata); best effort."""
        meta = obj["metadata"]
        now = timestamp(datetime.now(UTC))
        body = {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": kind,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": self._component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", body)
        except (KubeError, aiohttp.ClientError, TimeoutError) as exc:
            level = logging.DEBUG if namespace_terminating(exc) else logging.WARNING  # it goes with its namespace
            log.log(level, "could not record event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], exc)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
