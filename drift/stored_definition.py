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
    node_versions: dict[str, str] = Field(default_factory=dict, alias="nodeVersions")
    """Workflow only: NodeDefinition name -> the version each ref resolved to when this version was made."""

    @classmethod
    def build(
        cls, kind: DefinitionKind, namespace: str, name: str, spec: dict[str, Any], node_versions: dict[str, str] | None
    ) -> StoredDefinition:
        """A definition whose version hashes the spec and (for a workflow) the versions its refs resolve to."""
        versions = dict(node_versions or {})
        version = content_version({"spec": spec, "nodeVersions": versions} if kind == "workflow" else spec)
        return cls(kind=kind, namespace=namespace, name=name, version=version, spec=spec, node_versions=versions)

    @property
    def ref(self) -> str:
        """`{namespace}/{name}`: the key of the latest pointer."""
        return f"{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        """`{namespace}/{name}_{version}`: the HBase row key."""
        return f"{self.namespace}/{self.name}_{self.version}"

    def body(self) -> bytes:
        """The canonical JSON stored in HBase and Redis (byte-identical for identical definitions)."""
        return canonical_json(self.model_dump(mode="json", by_alias=True)).encode()

    @classmethod
    def from_body(cls, body: bytes) -> StoredDefinition:
        return cls.model_validate_json(body)

    def node_spec(self) -> NodeDefinitionSpec:
        return NodeDefinitionSpec.model_validate(self.spec)

    def workflow_spec(self) -> WorkflowSpec:
        return WorkflowSpec.model_validate(self.spec)
