"""kopf handlers of NodeDefinition and Workflow: validate, resolve refs, store the version, set the status.

A version is written to HBase once (content-addressed) and announced through the definition cache. A new
NodeDefinition version re-triggers the Workflows of its namespace that reference it unpinned (or are not
Ready yet), which then get a new version themselves; a new Workflow version re-triggers its Pending runs.

Deleting a definition withdraws its latest pointer (its versions stay, so pinned runs go on); a deleted
NodeDefinition re-triggers the Workflows following it, which then report `UnknownNodeRef`. Definitions
carry no finalizer (a stopped operator must not block deletes): the handlers follow the watch's DELETED
events, and what was deleted while the operator was down is caught at its start
(`housekeeping.withdraw_orphaned_pointers`).
"""

from __future__ import annotations

import asyncio
import logging
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
from drift.models.resources import GROUP, NODE_DEFINITION, VERSION, WORKFLOW, WORKFLOW_RUN, Kind
from drift.models.workflow import WorkflowSpec
from drift.stored_definition import DefinitionKind, StoredDefinition
from drift.validation import DefinitionInvalid, validate_node_definition, validate_workflow

from .clients import Services
from .sub_workflows import cycle_problem, pin_children

Builder = Callable[[], Awaitable[StoredDefinition]]

TRIGGER_ANNOTATION = f"{GROUP}/trigger"
"""Patched onto an object to make kopf reconcile it again; the value says what changed."""
MAX_BACKOFF_SECONDS = 60
CACHE_KINDS: dict[str, DefinitionKind] = {NODE_DEFINITION.kind: "node", WORKFLOW.kind: "workflow"}
"""The definition cache's name of each kind."""
log = logging.getLogger(__name__)


def validation_message(exc: ValidationError) -> str:
    """Pydantic errors as `spec.field: problem`, the first five."""
    return "; ".join(
        f"spec.{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]
    )


def _status(
    body: Mapping[str, Any],
    previous: Mapping[str, Any],
    *,
    ready: bool,
    reconciling: bool,
    reason: str,
    message: str,
    version: str | None = None,
) -> dict[str, Any]:
    """The status changes for the desired conditions (the version only when stored), relative to `previous`."""
    generation = body["metadata"].get("generation")
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": set_conditions(
            previous.get("conditions"),
            definition_conditions(ready, reconciling, reason, message),
            generation,
            datetime.now(UTC),
        ),
    }
    if version:
        status["version"] = version
    return {key: value for key, value in status.items() if previous.get(key) != value}


async def _sync(
    *, kind: Kind, body: Mapping[str, Any], patch: kopf.Patch, retry: int, services: Services, build: Builder
) -> StoredDefinition | None:
    """Build, store and announce a definition; the final status through kopf's patch. The definition if stored.

    A new generation is first marked `Reconciling` (its own status write, before the slow part), so kstatus
    and Argo CD see the change is being worked on. A failing backend keeps it Reconciling (retried), an
    invalid definition stalls it (and an invalid Workflow's latest pointer is withdrawn).
    """
    started = time.monotonic()
    meta, previous = body["metadata"], body.get("status") or {}
    if previous.get("observedGeneration") != meta.get("generation"):
        message = f"Storing generation {meta.get('generation')}"
        marked = _status(body, previous, ready=False, reconciling=True, reason="Reconciling", message=message)
        updated = await services.kube.patch_status(kind.plural, meta["namespace"], meta["name"], marked)
        previous = (updated or {}).get("status") or previous
    reason: str | None = None
    try:
        try:
            definition = await build()
            await services.cache.publish(definition)
        except ValidationError as exc:
            reason, message = "InvalidDefinition", validation_message(exc)
        except (DefinitionInvalid, VersionConflict) as exc:
            reason, message = exc.reason, str(exc)
        if reason and kind is WORKFLOW:  # new runs start only on a Ready workflow
            await services.cache.withdraw("workflow", f"{meta['namespace']}/{meta['name']}")
    except BackendUnavailable as exc:
        RECONCILES.labels(kind.kind, "retry").inc()
        patch.status.update(_status(body, previous, ready=False, reconciling=True, reason=exc.reason, message=str(exc)))
        raise kopf.TemporaryError(str(exc), delay=min(2**retry, MAX_BACKOFF_SECONDS)) from None
    if reason:
        RECONCILES.labels(kind.kind, "invalid").inc()
        patch.status.update(_status(body, previous, ready=False, reconciling=False, reason=reason, message=message))
        return None
    RECONCILES.labels(kind.kind, "synced").inc()
    message = f"Version {definition.version} stored"
    synced = _status(
        body, previous, ready=True, reconciling=False, reason="Synced", message=message, version=definition.version
    )
    patch.status.update(synced)
    SYNC_SECONDS.labels(kind.kind).observe(time.monotonic() - started)
    return definition


# Indexes ----------------------------------------------------------------------------------------------


@kopf.index(GROUP, VERSION, WORKFLOW.plural)
async def workflows_by_node(namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any):
    """(namespace, NodeDefinition) -> Workflows to re-trigger when it changes: unpinned refs, or not Ready."""
    ready = any(c.get("type") == READY and c.get("status") == "True" for c in status.get("conditions") or ())
    refs = [node["ref"] for node in spec.get("nodes") or () if node.get("ref")]
    return {(namespace, ref["name"]): name for ref in refs if not ref.get("version") or not ready} or None


@kopf.index(GROUP, VERSION, WORKFLOW.plural)
async def workflows_by_child(namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any):
    """(namespace, Workflow) -> Workflows running it as a sub-workflow: re-triggered when it changes."""
    ready = any(c.get("type") == READY and c.get("status") == "True" for c in status.get("conditions") or ())
    refs = [node["workflow"]["ref"] for node in spec.get("nodes") or () if node.get("workflow")]
    return {(namespace, ref["name"]): name for ref in refs if not ref.get("version") or not ready} or None


async def withdraw(services: Services, kind: Kind, namespace: str, name: str) -> None:
    """Withdraw a deleted definition's latest pointer; while a backend fails, retry as long as it stays deleted."""
    delay = 1.0
    while True:
        try:
            return await services.cache.withdraw(CACHE_KINDS[kind.kind], f"{namespace}/{name}")
        except BackendUnavailable as exc:
            log.warning("%s %s/%s: pointer not withdrawn yet (%s), retrying", kind.kind, namespace, name, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        if await services.kube.get(kind.plural, namespace, name) is not None:
            return  # applied again: its own reconcile moves the pointer


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

    stored = await _sync(kind=NODE_DEFINITION, body=body, patch=patch, retry=retry, services=memo, build=build)
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
    workflows_by_child: kopf.Index,
    **_: Any,
) -> None:
    """Resolve the refs, validate the graph, store the version; re-trigger the runs waiting for it and the
    Workflows that run it as a sub-workflow."""

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
        children = await pin_children(memo.cache, namespace, model)
        validate_workflow(model, resolved, children)
        if cycle := await cycle_problem(memo.cache, namespace, name, children):
            raise DefinitionInvalid([cycle])
        workflow_pins = {node: child.version for node, child in children.items()}
        return StoredDefinition.build("workflow", namespace, name, model.wire(), pins, workflow_pins=workflow_pins)

    stored = await _sync(kind=WORKFLOW, body=body, patch=patch, retry=retry, services=memo, build=build)
    if stored:
        cause = f"{name}@{stored.version}"
        await _trigger(memo, WORKFLOW_RUN.plural, namespace, memo.index.pending_runs(namespace, name), cause)
        if stored.version != (body.get("status") or {}).get("version"):
            parents = {parent for parent in workflows_by_child.get((namespace, name), ()) if parent != name}
            await _trigger(memo, WORKFLOW.plural, namespace, parents, cause)


def deleted(type: str, **_: Any) -> bool:
    """kopf filter: the watch event says the object is gone."""
    return type == "DELETED"


@kopf.on.event(GROUP, VERSION, NODE_DEFINITION.plural, when=deleted)
async def delete_node_definition(
    *, name: str, namespace: str, uid: str, memo: Services, workflows_by_node: kopf.Index, **_: Any
) -> None:
    """Withdraw its latest pointer; re-check the Workflows that follow it (they lose the ref)."""
    await withdraw(memo, NODE_DEFINITION, namespace, name)
    cause = f"{name} deleted ({uid})"
    await _trigger(memo, WORKFLOW.plural, namespace, workflows_by_node.get((namespace, name)), cause)


@kopf.on.event(GROUP, VERSION, WORKFLOW.plural, when=deleted)
async def delete_workflow(
    *, name: str, namespace: str, uid: str, memo: Services, workflows_by_child: kopf.Index, **_: Any
) -> None:
    """Withdraw its latest pointer: new runs naming it wait (WorkflowNotFound); runs in flight go on. The
    Workflows running it as a sub-workflow are checked again (they lose the ref)."""
    await withdraw(memo, WORKFLOW, namespace, name)
    await _trigger(
        memo, WORKFLOW.plural, namespace, workflows_by_child.get((namespace, name)), f"{name} deleted ({uid})"
    )
