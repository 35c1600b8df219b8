"""`validate`: the operator's checks, offline, over files and folders of manifests (for CI before a merge).

What the operator does when a definition is applied, done here without a cluster: the pydantic models
(the CRD schemas and admission rules come from them), `drift.validation` (graph rules, expressions,
JSON Schemas), refs resolved among the files given, and each WorkflowRun's and WorkflowSchedule's input
against its workflow's inputSchema. Every problem is one line: `file:line: Kind/name: node "x": field: message`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from drift.models.nodes import NodeDefinitionSpec
from drift.models.run import WorkflowRunSpec
from drift.models.schedule import WorkflowScheduleSpec
from drift.models.workflow import WorkflowSpec
from drift.validation import DefinitionInvalid, validate_input, validate_node_definition, validate_workflow

from .manifest_files import Manifest, load_manifests

RUN_SPECS: dict[str, type[WorkflowRunSpec | WorkflowScheduleSpec]] = {
    "WorkflowRun": WorkflowRunSpec,
    "WorkflowSchedule": WorkflowScheduleSpec,
}
"""The kinds that start runs of a Workflow (with `workflowRef` and `input`)."""


@dataclass(frozen=True)
class Finding:
    """One problem, where it is and its reason (the operator's condition reason)."""

    file: str
    line: int
    kind: str
    name: str
    namespace: str
    reason: str
    message: str

    def line_text(self) -> str:
        subject = f"{self.kind}/{self.name}: " if self.kind else ""
        return f"{self.file}:{self.line}: {subject}{self.message}"


def _pydantic(exc: ValidationError, spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(reason, message) per schema error; `nodes[i]` is named by the node's name."""
    found = []
    nodes = spec.get("nodes") if isinstance(spec.get("nodes"), list) else []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        text = error["msg"].removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] == "nodes" and loc[1].isdigit():
            index = int(loc[1])
            raw = nodes[index] if index < len(nodes) and isinstance(nodes[index], dict) else {}
            label = f'node "{raw.get("name")}"' if raw.get("name") else f"nodes[{index}]"
            rest = ".".join(loc[2:])
            found.append(("InvalidDefinition", f"{label}: {rest + ': ' if rest else ''}{text}"))
        else:
            field = ".".join(loc)
            found.append(("InvalidDefinition", f"spec{'.' + field if field else ''}: {text}"))
    return found


def _invalid(exc: DefinitionInvalid) -> list[tuple[str, str]]:
    return [(problem.reason, problem.message) for problem in exc.problems]


class _Checker:
    """The checks of one `validate` call: definitions first, then the workflows that ref them, then runs."""

    def __init__(self, manifests: list[Manifest], default_namespace: str) -> None:
        self.manifests = manifests
        self.default_namespace = default_namespace
        self.findings: list[Finding] = []
        self.seen: dict[tuple[str, str, str], Manifest] = {}
        self.node_specs: dict[tuple[str, str], NodeDefinitionSpec] = {}
        self.workflows: dict[tuple[str, str], WorkflowSpec] = {}

    def namespace(self, manifest: Manifest) -> str:
        return manifest.namespace or self.default_namespace

    def report(self, manifest: Manifest, problems: list[tuple[str, str]]) -> None:
        self.findings.extend(
            Finding(manifest.path, manifest.line, manifest.kind, manifest.name, self.namespace(manifest), reason, text)
            for reason, text in problems
        )

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m.kind == kind]

    def duplicates(self) -> None:
        for manifest in self.manifests:
            key = (manifest.kind, self.namespace(manifest), manifest.name)
            if key in self.seen and "generateName" not in manifest.body.get("metadata", {}):
                first = self.seen[key]
                self.report(manifest, [("Duplicate", f"also defined at {first.path}:{first.line}")])
            self.seen.setdefault(key, manifest)

    def node_definition(self, manifest: Manifest) -> None:
        spec = manifest.body.get("spec") or {}
        try:
            model = NodeDefinitionSpec.model_validate(spec)
            validate_node_definition(model)
        except ValidationError as exc:
            return self.report(manifest, _pydantic(exc, spec))
        except DefinitionInvalid as exc:
            return self.report(manifest, _invalid(exc))
        self.node_specs[(self.namespace(manifest), manifest.name)] = model
        return None

    def workflow(self, manifest: Manifest) -> None:
        namespace = self.namespace(manifest)
        spec = manifest.body.get("spec") or {}
        try:
            model = WorkflowSpec.model_validate(spec)
        except ValidationError as exc:
            return self.report(manifest, _pydantic(exc, spec))
        resolved, problems, invalid_refs = {}, [], set()
        children = [
            n.name for n in model.nodes if n.workflow and ("Workflow", namespace, n.workflow.ref.name) in self.seen
        ]
        for node in model.nodes:
            if node.ref is None:
                continue
            if (namespace, node.ref.name) in self.node_specs:
                resolved[node.name] = self.node_specs[(namespace, node.ref.name)]
            elif ("NodeDefinition", namespace, node.ref.name) in self.seen:
                invalid_refs.add(node.name)
                text = f'node "{node.name}": ref: NodeDefinition "{node.ref.name}" is invalid (see its problems)'
                problems.append(("UnknownNodeRef", text))
        try:
            validate_workflow(model, resolved, children)
        except DefinitionInvalid as exc:
            problems += [
                (reason, text) for reason, text in _invalid(exc)
                if not (reason == "UnknownNodeRef" and text.split('"')[1] in invalid_refs)
            ]  # fmt: skip
        if problems:
            return self.report(manifest, problems)
        self.workflows[(namespace, manifest.name)] = model
        return None

    def run(self, manifest: Manifest) -> None:
        """A WorkflowRun or a WorkflowSchedule: its spec, its Workflow and its input against the inputSchema."""
        spec = manifest.body.get("spec") or {}
        try:
            run = RUN_SPECS[manifest.kind].model_validate(spec)
        except ValidationError as exc:
            return self.report(manifest, _pydantic(exc, spec))
        target = (self.namespace(manifest), run.workflow_ref.name)
        if target in self.workflows:
            try:
                validate_input(self.workflows[target].input_schema, run.input)
            except DefinitionInvalid as exc:
                self.report(manifest, _invalid(exc))
        elif ("Workflow", *target) not in self.seen:
            text = f'workflowRef: no Workflow "{run.workflow_ref.name}" in the files given'
            self.report(manifest, [("WorkflowNotFound", text)])
        return None


def validate_manifests(paths: list[str], default_namespace: str) -> tuple[list[Finding], int]:
    """Every problem in the files given, and how many Drift objects were checked."""
    manifests, unreadable = load_manifests(paths)
    checker = _Checker(manifests, default_namespace)
    checker.findings += [Finding(p.path, p.line, "", "", "", "InvalidManifest", p.message) for p in unreadable]
    checker.duplicates()
    for manifest in checker.of_kind("NodeDefinition"):
        checker.node_definition(manifest)
    for manifest in checker.of_kind("Workflow"):
        checker.workflow(manifest)
    for manifest in checker.of_kind("WorkflowRun") + checker.of_kind("WorkflowSchedule"):
        checker.run(manifest)
    return checker.findings, len(manifests)


def as_data(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(finding) for finding in findings]
