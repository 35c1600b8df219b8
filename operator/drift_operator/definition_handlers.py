"""kopf handlers of NodeDefinition and Workflow: validate, resolve refs, store the version, set the status.

A version is written to HBase once (content-addressed) and announced through the definition cache. A new
NodeDefinition version re-triggers the Workflows of its namespace that reference it unpinned (or are not
Ready yet), which then get a new version themselves; a new Workflow version re-triggers its Pending runs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from drift.conditions import READY, definition_conditions, set_conditions
from drift.errors import BackendUnavailable, VersionConflict
from drift.metrics import RECONCILES, SYNC_SECONDS
from drift.models.nodes import NodeDefinitionSpec
from drift.models.resources import GROUP, NODE_DEFINITION, VERSION, WORKFLOW, WORKFLOW_RUN
from drift.models.workflow import WorkflowSpec
from drift.stored_definition import StoredDefinition
from drift.validation import DefinitionInvalid, validate_node_definition, validate_workflow

from .clients import Services

Builder = Callable[[], Awaitable[StoredDefinition]]

TRIGGER_ANNOTATION = f"{GROUP}/trigger"
"""Patched onto an object to make kopf reconcile it again; the value says what changed."""
MAX_BACKOFF_SECONDS = 60


def validation_message(exc: ValidationError) -> str:
    """Pydantic errors as `spec.field: problem`, the first five."""
    return "; ".join(
        f"spec.{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]
    )


def _status(body: Mapping[str, Any], ready: bool, reason: str, message: str, version: str | None) -> dict[str, Any]:
    """The desired status of a definition (the version only when stored)."""
    generation = body["metadata"].get("generation")
    previous = body.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": set_conditions(
            previous.get("conditions"),
            definition_conditions(ready, False, reason, message),
            generation,
            datetime.now(UTC),
        ),
    }
    if version:
        status["version"] = version
    return {key: value for key, value in status.items() if previous.get(key) != value}


async def _sync(
    *, kind: str, body: Mapping[str, Any], patch: kopf.Patch, retry: int, services: Services, build: Builder
) -> StoredDefinition | None:
    """Build, store and announce a definition; one status write (kopf's patch). The definition if stored."""
    started = time.monotonic()
    try:
        definition = await build()
        await services.cache.publish(definition)
    except ValidationError as exc:
        status = _status(body, False, "InvalidDefinition", validation_message(exc), None)
    except (DefinitionInvalid, VersionConflict) as exc:
        status = _status(body, False, exc.reason, str(exc), None)
    except BackendUnavailable as exc:
        RECONCILES.labels(kind, "retry").inc()
        patch.status.update(_status(body, False, exc.reason, str(exc), None))
        raise kopf.TemporaryError(str(exc), delay=min(2**retry, MAX_BACKOFF_SECONDS)) from None
    else:
        RECONCILES.labels(kind, "synced").inc()
        patch.status.update(_status(body, True, "Synced", f"Version {definition.version} stored", definition.version))
        SYNC_SECONDS.labels(kind).observe(time.monotonic() - started)
        return definition
    RECONCILES.labels(kind, "invalid").inc()
    patch.status.update(status)
    return None


# Indexes ----------------------------------------------------------------------------------------------


@kopf.index(GROUP, VERSION, WORKFLOW.plural)
def workflows_by_node(namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any):
    """(namespace, NodeDefinition) -> Workflows to re-trigger when it changes: unpinned refs, or not Ready."""
    ready = any(c.get("type") == READY and c.get("status") == "True" for c in status.get("conditions") or ())
    refs = [node["ref"] for node in spec.get("nodes") or () if node.get("ref")]
    return {(namespace, ref["name"]): name for ref in refs if not ref.get("version") or not ready} or None


@kopf.index(GROUP, VERSION, WORKFLOW_RUN.plural)
def pending_runs(namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any):
    """(namespace, Workflow) -> WorkflowRuns not started yet (to start when the Workflow becomes Ready)."""
    if status.get("phase") not in (None, "Pending"):
        return None
    return {(namespace, (spec.get("workflowRef") or {}).get("name")): name}


async def _trigger(services: Services, plural: str, namespace: str, names: Any, cause: str) -> None:
    for name in sorted(set(names or ())):
        await services.kube.annotate(plural, namespace, name, {TRIGGER_ANNOTATION: cause})


# Handlers ---------------------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, NODE_DEFINITION.plural)
@kopf.on.create(GROUP, VERSION, NODE_DEFINITION.plural)
@kopf.on.update(GROUP, VERSION, NODE_DEFINITION.plural, field="spec")
async def reconcile_node_definition(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str,
    patch: kopf.Patch,
    retry: int,
    memo: Services,
    workflows_by_node: kopf.Index,
    **_: Any,
) -> None:
    """Store the NodeDefinition's version; re-trigger the Workflows that follow its latest version."""

    async def build() -> StoredDefinition:
        model = NodeDefinitionSpec.model_validate(dict(spec))
        validate_node_definition(model)
        return StoredDefinition.build("node", namespace, name, model.wire(), None)

    stored = await _sync(kind="NodeDefinition", body=body, patch=patch, retry=retry, services=memo, build=build)
    if stored and stored.version != (body.get("status") or {}).get("version"):
        cause = f"{name}@{stored.version}"
        await _trigger(memo, WORKFLOW.plural, namespace, workflows_by_node.get((namespace, name)), cause)


@kopf.on.resume(GROUP, VERSION, WORKFLOW.plural)
@kopf.on.create(GROUP, VERSION, WORKFLOW.plural)
@kopf.on.update(GROUP, VERSION, WORKFLOW.plural)
async def reconcile_workflow(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str,
    patch: kopf.Patch,
    retry: int,
    memo: Services,
    pending_runs: kopf.Index,
    **_: Any,
) -> None:
    """Resolve the refs, validate the graph, store the version; re-trigger the runs waiting for it."""

    async def build() -> StoredDefinition:
        model = WorkflowSpec.model_validate(dict(spec))
        resolved, pins = {}, {}
        for node in model.nodes:
            if node.ref is None:
                continue
            found = await memo.cache.get("node", namespace, node.ref.name, node.ref.version)
            if found is None:
                continue
            resolved[node.name] = found.node_spec()
            pins[node.name] = found.version
        validate_workflow(model, resolved)
        return StoredDefinition.build("workflow", namespace, name, model.wire(), pins)

    stored = await _sync(kind="Workflow", body=body, patch=patch, retry=retry, services=memo, build=build)
    if stored:
        cause = f"{name}@{stored.version}"
        await _trigger(memo, WORKFLOW_RUN.plural, namespace, pending_runs.get((namespace, name)), cause)
