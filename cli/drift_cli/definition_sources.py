"""Where a command gets definitions: the cluster's NodeDefinitions and Workflows, or manifest files (`-f`)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from drift.errors import BackendUnavailable
from drift.models.nodes import NodeDefinitionSpec
from drift.models.workflow import WorkflowSpec
from drift.settings import hbase_settings
from drift.storage.hbase import HBaseStore
from drift.stored_definition import DefinitionKind, StoredDefinition
from drift_worker.graph import PinMissing, PinnedGraph, ResolvedNode, load_pinned

from .cli_errors import CliError
from .kube_access import NODE_DEFINITIONS, WORKFLOWS, Cluster
from .manifest_files import load_manifests


def pydantic_problems(exc: ValidationError, prefix: str = "spec") -> list[str]:
    """`spec.field: problem` for each error (as the operator words them)."""
    return [f"{prefix}.{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()]


@dataclass
class Definitions:
    """Raw specs by name, from the cluster or from files, for one namespace."""

    namespace: str
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: str = "cluster"
    cluster: Cluster | None = None

    @classmethod
    def from_files(cls, paths: list[str], namespace: str | None) -> Definitions:
        manifests, problems = load_manifests(paths)
        if problems:
            first = problems[0]
            raise CliError(f"{first.path}:{first.line}: {first.message}")
        namespaces = {m.namespace for m in manifests if m.namespace}
        chosen = namespace or (namespaces.pop() if len(namespaces) == 1 else "default")
        found = cls(chosen, origin="files")
        for manifest in manifests:
            if manifest.namespace not in (None, chosen):
                continue
            if manifest.kind == "Workflow":
                found.workflows[manifest.name] = manifest.body.get("spec") or {}
            elif manifest.kind == "NodeDefinition":
                found.nodes[manifest.name] = manifest.body.get("spec") or {}
        return found

    def workflow_spec(self, name: str) -> dict[str, Any]:
        if name not in self.workflows:
            if self.cluster is None:
                raise CliError(f"no Workflow {name!r} in the files given (namespace {self.namespace})")
            self.workflows[name] = self.cluster.get(WORKFLOWS, name).get("spec") or {}
        return self.workflows[name]

    def node_spec(self, name: str) -> dict[str, Any]:
        if name not in self.nodes:
            if self.cluster is None:
                raise CliError(f"no NodeDefinition {name!r} in the files given (namespace {self.namespace})")
            self.nodes[name] = self.cluster.get(NODE_DEFINITIONS, name).get("spec") or {}
        return self.nodes[name]


def from_cluster(cluster: Cluster) -> Definitions:
    return Definitions(cluster.namespace, origin="cluster", cluster=cluster)


def source(paths: list[str] | None, namespace: str | None, context: str | None) -> Definitions:
    """Files when `-f` is given, else the cluster."""
    if paths:
        return Definitions.from_files(paths, namespace)
    return from_cluster(Cluster(namespace, context))


def node_definition(definitions: Definitions, name: str) -> NodeDefinitionSpec:
    try:
        return NodeDefinitionSpec.model_validate(definitions.node_spec(name))
    except ValidationError as exc:
        raise CliError(f"NodeDefinition {name}: {pydantic_problems(exc)[0]}") from None


def workflow_model(definitions: Definitions, name: str) -> WorkflowSpec:
    try:
        return WorkflowSpec.model_validate(definitions.workflow_spec(name))
    except ValidationError as exc:
        raise CliError(f"Workflow {name}: {pydantic_problems(exc)[0]}") from None


def pinned_graph(definitions: Definitions, name: str) -> PinnedGraph:
    """The workflow resolved as the worker runs it (PinnedGraph.build), with the definitions at hand."""
    spec = workflow_model(definitions, name)
    by_name: dict[str, StoredDefinition] = {}
    stored: dict[str, StoredDefinition] = {}
    for node in spec.nodes:
        if node.ref is None:
            continue
        if node.ref.name not in by_name:
            model = node_definition(definitions, node.ref.name)
            by_name[node.ref.name] = StoredDefinition.build(
                "node", definitions.namespace, node.ref.name, model.wire(), None
            )
        stored[node.name] = by_name[node.ref.name]
    pins = {node: definition.version for node, definition in stored.items()}
    workflow = StoredDefinition.build("workflow", definitions.namespace, name, spec.wire(), pins)
    return PinnedGraph.build(workflow, stored)


def run_graph(definitions: Definitions, run: dict[str, Any]) -> PinnedGraph:
    """The graph a run is pinned to: the Workflow as it is now if that is the run's version, else the run's
    version read from HBase by the worker's own loader (with a warning, the current one if HBase is out of
    reach)."""
    name = run["spec"]["workflowRef"]["name"]
    pinned = (run.get("status") or {}).get("workflowVersion")
    try:
        current: PinnedGraph | None = pinned_graph(definitions, name)
    except CliError:  # the Workflow is gone or broken now; the run's version may still be stored
        if pinned is None:
            raise
        current = None
    if current is not None and (pinned is None or current.workflow_version == pinned):
        return current
    assert pinned is not None
    try:
        return asyncio.run(_stored_graph(definitions.namespace, name, pinned))
    except (BackendUnavailable, PinMissing) as exc:
        if current is None:
            raise CliError(f"run {run['metadata']['name']}: Workflow {name} version {pinned}: {exc}") from None
        print(f"warning: run {run['metadata']['name']} runs Workflow {name} version {pinned}, not read ({exc}); "
              f"showing version {current.workflow_version}", file=sys.stderr)  # fmt: skip
        return current


async def _stored_graph(namespace: str, name: str, version: str) -> PinnedGraph:
    store = HBaseStore(hbase_settings())

    async def lookup(kind: DefinitionKind, key: str) -> StoredDefinition | None:
        body = await store.get_version(kind, key)
        return StoredDefinition.from_body(body) if body is not None else None

    try:
        return await load_pinned(lookup, namespace, name, version)
    finally:
        store.close()


def standalone_node(definitions: Definitions, name: str) -> ResolvedNode:
    """A NodeDefinition as a graph node of its own (no edges): what `node test` runs."""
    spec = node_definition(definitions, name)
    stored = StoredDefinition.build("node", definitions.namespace, name, spec.wire(), None)
    blocks = spec.model_dump(exclude={"description"})
    return ResolvedNode(**blocks, name=name, ref=f"{name}_{stored.version}")
