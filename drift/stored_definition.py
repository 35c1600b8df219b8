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
    node_versions: dict[str, str] = Field(default_factory=dict, alias="nodeVersions")
    """Workflow versions stored before `nodePins` (read, never written): NodeDefinition name -> version, one
    per definition, so two nodes referencing one definition at different versions shared one of them."""

    @classmethod
    def build(
        cls, kind: DefinitionKind, namespace: str, name: str, spec: dict[str, Any], node_pins: dict[str, str] | None
    ) -> StoredDefinition:
        """A definition whose version hashes the spec and (for a workflow) the version each ref node pins."""
        pins = dict(node_pins or {})
        version = content_version({"spec": spec, "nodePins": pins} if kind == "workflow" else spec)
        return cls(kind=kind, namespace=namespace, name=name, version=version, spec=spec, node_pins=pins)

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

        An empty `nodePins` is left out, so the versions stored before it existed keep their exact bytes.
        """
        document = self.model_dump(mode="json", by_alias=True, exclude=None if self.node_pins else {"node_pins"})
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
