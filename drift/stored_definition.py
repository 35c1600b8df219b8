"""Stored definitions: the immutable, content-addressed documents kept in HBase and cached."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .models.nodes import NodeDefinitionSpec
from .models.workflow import WorkflowSpec
from .versions import canonical_json, content_version

DefinitionKind = Literal["node", "workflow"]


class StoredDefinition(BaseModel):
    """One version of a NodeDefinition or Workflow, exactly as written to HBase."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    kind: DefinitionKind
    namespace: str
    name: str
    version: str
    spec: dict[str, Any]
    """The spec in manifest (camelCase) form."""
    node_pins: dict[str, str] = Field(default_factory=dict, alias="nodePins")
    """Workflow only: workflow node name -> the version of the NodeDefinition its ref resolved to."""
    workflow_pins: dict[str, str] = Field(default_factory=dict, alias="workflowPins")
    """Workflow only: `type: workflow` node name -> the version of the child Workflow it runs."""
    node_versions: dict[str, str] = Field(default_factory=dict, alias="nodeVersions")
    """Workflow versions stored before `nodePins` (read, never written): NodeDefinition name -> version, one
    per definition, so two nodes referencing one definition at different versions shared one of them."""

    @classmethod
    def build(
        cls,
        kind: DefinitionKind,
        namespace: str,
        name: str,
        spec: dict[str, Any],
        node_pins: dict[str, str] | None,
        *,
        workflow_pins: dict[str, str] | None = None,
    ) -> StoredDefinition:
        """A definition whose version hashes the spec and (for a workflow) the version each ref node and each
        sub-workflow node pins (`workflowPins` only when there are some: older versions keep their hash)."""
        pins, children = dict(node_pins or {}), dict(workflow_pins or {})
        hashed = {"spec": spec, "nodePins": pins, **({"workflowPins": children} if children else {})}
        version = content_version(hashed if kind == "workflow" else spec)
        return cls(kind=kind, namespace=namespace, name=name, version=version, spec=spec, node_pins=pins,
                   workflow_pins=children)  # fmt: skip

    @property
    def ref(self) -> str:
        """`{namespace}/{name}`: the key of the latest pointer."""
        return f"{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        """`{namespace}/{name}_{version}`: the HBase row key."""
        return f"{self.namespace}/{self.name}_{self.version}"

    def body(self) -> bytes:
        """The canonical JSON stored in HBase and Redis (byte-identical for identical definitions).

        An empty `nodePins` or `workflowPins` is left out, so the versions stored before they existed keep their
        exact bytes.
        """
        empty = {name for name in ("node_pins", "workflow_pins") if not getattr(self, name)}
        document = self.model_dump(mode="json", by_alias=True, exclude=empty or None)
        return canonical_json(document).encode()

    @classmethod
    def from_body(cls, body: bytes) -> StoredDefinition:
        return cls.model_validate_json(body)

    def node_spec(self) -> NodeDefinitionSpec:
        return NodeDefinitionSpec.model_validate(self.spec)

    def workflow_spec(self) -> WorkflowSpec:
        return WorkflowSpec.model_validate(self.spec)

    def pinned_nodes(self) -> dict[str, tuple[str, str]]:
        """Workflow only: ref node name -> (NodeDefinition name, pinned version), from either format."""
        refs = {node.name: node.ref.name for node in self.workflow_spec().nodes if node.ref is not None}
        if self.node_versions:
            return {node: (ref, self.node_versions[ref]) for node, ref in refs.items() if ref in self.node_versions}
        return {node: (refs[node], version) for node, version in self.node_pins.items()}
