"""The operator's own Kubernetes calls (besides kopf's): runs created for schedules, patches, Events.

The official client is synchronous, so calls run on a small thread pool off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import kubernetes
from kubernetes.client.exceptions import ApiException

from drift.conditions import timestamp
from drift.models.resources import GROUP, VERSION

T = TypeVar("T")
log = logging.getLogger(__name__)
COMPONENT = "drift-operator"


class Kube:
    """Patches and Events through the official client (threads: it is synchronous)."""

    def __init__(self, threads: int = 16) -> None:
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()
        configuration = kubernetes.client.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = threads
        api = kubernetes.client.ApiClient(configuration)
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="kube")

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None if it is gone."""
        try:
            return await self._run(
                lambda: self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def names(self, plural: str, namespace: str | None) -> set[tuple[str, str]]:
        """(namespace, name) of every object of `plural`, in `namespace` or (None) the whole cluster."""

        def listed() -> dict[str, Any]:
            if namespace:
                return self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
            return self.custom.list_cluster_custom_object(GROUP, VERSION, plural)

        items = (await self._run(listed))["items"]
        return {(item["metadata"]["namespace"], item["metadata"]["name"]) for item in items}

    async def delete(self, plural: str, namespace: str, name: str, uid: str) -> None:
        """Delete the object if it is still the one with `uid` (a re-created namesake stays); gone is fine."""
        body = kubernetes.client.V1DeleteOptions(preconditions=kubernetes.client.V1Preconditions(uid=uid))
        try:
            await self._run(
                lambda: self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, body=body)
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch `status` (None values delete fields); the updated object, or None if it is gone."""
        body = {"status": dict(status)}
        try:
            return await self._run(
                lambda: self.custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name, body)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def create(self, plural: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create the object; None if one of that name exists already."""
        try:
            return await self._run(
                lambda: self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, dict(body))
            )
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise

    async def patch(self, plural: str, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        """Merge-patch the object (not its status); gone is fine."""
        try:
            await self._run(
                lambda: self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, dict(body))
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def annotate(self, plural: str, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        """Merge-patch annotations (used to re-trigger the reconcile of another object); gone is fine."""
        await self.patch(plural, namespace, name, {"metadata": {"annotations": dict(annotations)}})

    async def event(self, obj: Mapping[str, Any], kind: str, event_type: str, reason: str, message: str) -> None:
        """Record a Kubernetes Event on `obj` (a body with metadata); best effort."""
        meta = obj["metadata"]
        now = datetime.now(UTC)
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
            "source": {"component": COMPONENT},
            "firstTimestamp": timestamp(now),
            "lastTimestamp": timestamp(now),
            "count": 1,
        }
        try:
            await self._run(lambda: self.core.create_namespaced_event(meta["namespace"], body))
        except ApiException as exc:
            log.warning("could not record event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], exc.reason)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
