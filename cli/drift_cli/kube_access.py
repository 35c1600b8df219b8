"""Drift's resources through the Kubernetes API (the user's kubeconfig), with errors as one clear line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from drift.models.resources import GROUP, VERSION, WORKFLOW, WORKFLOW_RUN, WORKFLOW_TRIGGER

from .cli_errors import CliError

T = TypeVar("T")
RUNS = WORKFLOW_RUN.plural
WORKFLOWS = WORKFLOW.plural
TRIGGERS = WORKFLOW_TRIGGER.plural
NODE_DEFINITIONS = "nodedefinitions"
KIND_OF = {RUNS: "WorkflowRun", WORKFLOWS: "Workflow", NODE_DEFINITIONS: "NodeDefinition", TRIGGERS: "WorkflowTrigger"}
CHUNK_SIZE = 500
"""Objects per list request (kubectl's default --chunk-size)."""


class Cluster:
    """One kubeconfig context: the namespace to use and the clients (created when first needed)."""

    def __init__(self, namespace: str | None, context: str | None) -> None:
        try:
            contexts, active = kubernetes.config.list_kube_config_contexts()
        except (kubernetes.config.ConfigException, FileNotFoundError) as exc:
            raise CliError(f"no Kubernetes configuration: {exc} (set KUBECONFIG or --context)") from None
        chosen = next((c for c in contexts if c["name"] == context), None) if context else active
        if context and chosen is None:
            names = ", ".join(c["name"] for c in contexts)
            raise CliError(f"no context {context!r} in the kubeconfig (contexts: {names})")
        self.namespace = namespace or (chosen or {}).get("context", {}).get("namespace") or "default"
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_kube_config(context=context, client_configuration=configuration)
        except kubernetes.config.ConfigException as exc:
            raise CliError(f"bad Kubernetes configuration: {exc}") from None
        configuration.retries = 1
        self.server = configuration.host
        api = kubernetes.client.ApiClient(configuration)
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.core = kubernetes.client.CoreV1Api(api)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise CliError(f"cannot reach the Kubernetes API at {self.server}: {reason}") from None
        except ApiException as exc:
            if exc.status == 404 and "the server could not find the requested resource" in str(exc.body):
                raise CliError(f"Drift is not installed on {self.server}: no {GROUP} resources (apply crds/)") from None
            if exc.status in (401, 403):
                raise CliError(f"{what}: not allowed ({exc.reason})") from None
            raise

    def check_namespace(self) -> None:
        """Fail clearly when the namespace does not exist (a missing permission to look is not an error)."""
        try:
            self._call("read namespace", lambda: self.core.read_namespace(self.namespace))
        except ApiException as exc:
            if exc.status == 404:
                raise CliError(f"namespace {self.namespace!r} does not exist") from None
        except CliError as exc:
            if "not allowed" not in exc.message:
                raise

    def get(self, plural: str, name: str) -> dict[str, Any]:
        """The object, or a CliError naming what is missing."""
        try:
            return self._call(
                f"get {plural}",
                lambda: self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name),
            )
        except ApiException as exc:
            if exc.status == 404:
                self.check_namespace()
                raise CliError(f"{KIND_OF[plural]} {name!r} not found in namespace {self.namespace!r}") from None
            raise CliError(f"get {KIND_OF[plural]} {name}: {exc.reason}") from None

    def find(self, plural: str, name: str) -> dict[str, Any] | None:
        """The object, or None if there is none by that name."""
        try:
            return self.get(plural, name)
        except CliError as exc:
            if "not found in namespace" in exc.message:
                return None
            raise

    def list(self, plural: str, chunk_size: int = CHUNK_SIZE, selector: str | None = None) -> list[dict[str, Any]]:
        """Every object (matching the label `selector`, if given), read in pages of `chunk_size` (the API
        server's limit/continue, as kubectl does), so a namespace with thousands of runs never asks for one
        huge answer."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            try:
                answer = self._call(
                    f"list {plural}",
                    lambda token=token: self.custom.list_namespaced_custom_object(
                        GROUP,
                        VERSION,
                        self.namespace,
                        plural,
                        limit=chunk_size,
                        _continue=token,
                        label_selector=selector,
                    ),
                )
            except ApiException as exc:
                raise CliError(f"list {plural}: {exc.reason}") from None
            items.extend(answer.get("items", []))
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                break
        if not items:
            self.check_namespace()
        return items

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._call(
                f"create {plural}",
                lambda: self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body),
            )
        except ApiException as exc:
            if exc.status == 404:
                self.check_namespace()
            raise CliError(f"create {KIND_OF[plural]}: {_api_message(exc)}") from None

    def patch(self, plural: str, name: str, body: Any) -> dict[str, Any]:
        """A merge patch (a dict), or an RFC 6902 JSON patch (a list, whose `test` operations guard races)."""
        kind = "application/json-patch+json" if isinstance(body, list) else "application/merge-patch+json"
        try:
            return self._call(
                f"patch {plural}",
                lambda: self.custom.patch_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, plural, name, body, _content_type=kind
                ),
            )
        except ApiException as exc:
            if exc.status == 404:
                self.get(plural, name)
            raise CliError(f"update {KIND_OF[plural]} {name}: {_api_message(exc)}") from None

    def events(self, name: str, uid: str | None) -> list[dict[str, Any]]:
        """Events about one object of this namespace, oldest first."""
        selector = f"involvedObject.name={name}" + (f",involvedObject.uid={uid}" if uid else "")
        try:
            answer = self._call(
                "list events", lambda: self.core.list_namespaced_event(self.namespace, field_selector=selector)
            )
        except (ApiException, CliError):
            return []
        items = [item.to_dict() for item in answer.items]
        return sorted(items, key=lambda e: str(e.get("last_timestamp") or e.get("event_time") or ""))


def _api_message(exc: ApiException) -> str:
    """The API server's own message (admission rule failures are in it)."""
    try:
        return json.loads(exc.body).get("message") or str(exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)
