"""The triggers drift-events serves: those the operator found Ready at their current generation.

`TriggerList.refresh` lists the WorkflowTriggers (every `resync_seconds`) and keeps one `Served` per trigger
whose filter and templates compile (the operator's check; they are compiled here again for use).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from drift.conditions import READY
from drift.kube_client import Kube
from drift.models.resources import WORKFLOW_TRIGGER
from drift.models.trigger import WorkflowTriggerSpec
from drift.trigger_events import CompiledTrigger, compile_trigger
from drift.validation import DefinitionInvalid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """One trigger as drift-events serves it."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: WorkflowTriggerSpec
    compiled: CompiledTrigger

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def served(body: Mapping[str, Any]) -> Served | None:
    """The trigger if the operator found its current generation Ready, else None."""
    meta, status = body["metadata"], body.get("status") or {}
    generation = meta.get("generation")
    ready = any(
        c.get("type") == READY and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in status.get("conditions") or ()
    )
    if not ready:
        return None
    try:
        spec = WorkflowTriggerSpec.model_validate(body["spec"])
        compiled = compile_trigger(spec)
    except (ValidationError, DefinitionInvalid) as exc:  # the operator has not seen this generation yet
        log.info("trigger %s/%s not served: %s", meta["namespace"], meta["name"], exc)
        return None
    return Served(meta["namespace"], meta["name"], meta["uid"], generation, spec, compiled)


class TriggerList:
    """The served triggers by (namespace, name), refreshed from the API server."""

    def __init__(self, kube: Kube, namespace: str | None) -> None:
        self._kube = kube
        self._namespace = namespace
        self.triggers: dict[tuple[str, str], Served] = {}

    def get(self, namespace: str, name: str) -> Served | None:
        return self.triggers.get((namespace, name))

    async def refresh(self) -> dict[tuple[str, str], Served]:
        """List the triggers again; the served ones (a changed generation replaces the old entry)."""
        current = {}
        for body in await self._kube.items(WORKFLOW_TRIGGER.plural, self._namespace):
            key = (body["metadata"]["namespace"], body["metadata"]["name"])
            known = self.triggers.get(key)
            if (
                known
                and known.uid == body["metadata"]["uid"]
                and known.generation == body["metadata"].get("generation")
            ):
                current[key] = known
            elif trigger := served(body):
                current[key] = trigger
        self.triggers = current
        return current
