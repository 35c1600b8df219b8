"""Definition checks beyond the schema: graph rules, expressions, JSON Schemas, run input.

Every problem names where it is (`node "check-amount": choices[0].when: ...`) and carries a stable
CamelCase reason that the operator puts on the resource's conditions.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from .expressions import ExpressionError, compile_expression, compile_json_templates, compile_template
from .models.nodes import TERMINAL_TYPES, EmitBlock, HttpBlock, NodeDefinitionSpec, ScopeBlocks, TypedBlocks
from .models.workflow import WorkflowNode, WorkflowSpec

MAX_PROBLEMS = 10


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition."""

    reason: str
    """CamelCase, stable: DuplicateNodeName, UnknownNodeTarget, UnknownNodeRef, UnknownWorkflowRef, WorkflowCycle,
    MissingNext, UnreachableNode, NoPathToEnd, ScopeOverlap, ScopeCycle, DuplicateBranchName, InvalidCompensate,
    InvalidExpression, InvalidSchema, InvalidInput."""
    message: str


class DefinitionInvalid(ValueError):
    """A definition with problems: the first one's reason, all messages (up to 10) joined."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.reason = problems[0].reason
        shown = "; ".join(p.message for p in problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        super().__init__(shown + more)


def _http_expressions(http: HttpBlock) -> Iterator[tuple[str, str, Any]]:
    yield "http.url", "tmpl", http.url
    for key, value in http.headers.items():
        yield f"http.headers.{key}", "tmpl", value
    for key, value in http.query.items():
        yield f"http.query.{key}", "tmpl", value
    yield "http.body", "json", http.body


def _emit_expressions(emit: EmitBlock) -> Iterator[tuple[str, str, Any]]:
    sink = emit.sink
    if sink.kafka and sink.kafka.key:
        yield "emit.sink.kafka.key", "tmpl", sink.kafka.key
    if sink.http:
        yield "emit.sink.http.url", "tmpl", sink.http.url
        for key, value in sink.http.headers.items():
            yield f"emit.sink.http.headers.{key}", "tmpl", value
    if emit.subject:
        yield "emit.subject", "tmpl", emit.subject
    yield "emit.data", "json", emit.data


def _expressions(blocks: TypedBlocks) -> Iterator[tuple[str, str, Any]]:
    """(field path, kind, text) of every expression ("expr"), template ("tmpl") or JSON body ("json")."""
    if blocks.http:
        yield from _http_expressions(blocks.http)
    if blocks.emit:
        yield from _emit_expressions(blocks.emit)
    if blocks.script:
        yield "script.expression", "expr", blocks.script.expression
    if blocks.processor:
        for key, value in blocks.processor.assignments.items():
            yield f"processor.set.{key}", "expr", value
    if blocks.instruction:
        yield "instruction.message", "tmpl", blocks.instruction.message
    if blocks.wait and blocks.wait.until:
        yield "wait.until", "expr", blocks.wait.until
    if blocks.success:
        yield "success.message", "tmpl", blocks.success.message
        yield "success.output", "expr", blocks.success.output
    if blocks.failure:
        yield "failure.message", "tmpl", blocks.failure.message
    if blocks.output:
        yield "output.expression", "expr", blocks.output.expression
    if isinstance(blocks, ScopeBlocks):
        yield from _graph_expressions(blocks)


def _graph_expressions(blocks: ScopeBlocks) -> Iterator[tuple[str, str, Any]]:
    """The expressions of a graph node's edges and scope blocks (choices, map items, sub-workflow input)."""
    for index, choice in enumerate(getattr(blocks, "choices", [])):
        yield f"choices[{index}].when", "expr", choice.when
    if blocks.map:
        yield "map.items", "expr", blocks.map.items
    if blocks.workflow:
        yield "workflow.input", "json", blocks.workflow.input


def _schema_problem(schema: dict[str, Any] | None, where: str) -> Problem | None:
    if schema is None:
        return None
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in exc.path)
        return Problem("InvalidSchema", f"{where}{path}: not a valid JSON Schema: {exc.message}")
    return None


def block_problems(blocks: TypedBlocks, prefix: str = "") -> list[Problem]:
    """Expressions that do not compile and invalid JSON Schemas in one node's blocks."""
    problems = []
    for path, kind, text in _expressions(blocks):
        if text is None:
            continue
        try:
            if kind == "expr":
                compile_expression(text)
            elif kind == "tmpl":
                compile_template(text)
            else:
                compile_json_templates(text)
        except ExpressionError as exc:
            problems.append(Problem("InvalidExpression", f"{prefix}{path}: {exc}"))
    if blocks.instruction and (
        problem := _schema_problem(blocks.instruction.input_schema, f"{prefix}instruction.inputSchema")
    ):
        problems.append(problem)
    return problems


def validate_node_definition(spec: NodeDefinitionSpec) -> None:
    """Raise DefinitionInvalid if any expression, template or schema of the definition is wrong."""
    problems = block_problems(spec)
    if problems:
        raise DefinitionInvalid(problems)


def edges_of(node: WorkflowNode | Any) -> Iterator[tuple[str, str]]:
    """(field, target node) of every edge leaving `node` (a workflow node, or one resolved for a run)."""
    if node.next:
        yield "next", node.next
    if node.on_error:
        yield "onError", node.on_error
    for index, choice in enumerate(node.choices):
        yield f"choices[{index}].next", choice.next
    if node.default:
        yield "default", node.default
    if node.instruction and node.instruction.on_timeout:
        yield "instruction.onTimeout", node.instruction.on_timeout


def scope_starts(node: WorkflowNode) -> Iterator[tuple[str, str]]:
    """(field, first node) of every scope `node` starts: parallel branches, map items, its compensation."""
    if node.parallel:
        for index, branch in enumerate(node.parallel.branches):
            yield f"parallel.branches[{index}].startAt", branch.start_at
    if node.map:
        yield "map.startAt", node.map.start_at
    if node.compensate:
        yield "compensate", node.compensate


def node_type(node: WorkflowNode, definitions: Mapping[str, NodeDefinitionSpec]) -> str | None:
    """The node's effective type: inline, or its referenced definition's (None if unresolved)."""
    if node.type:
        return node.type
    definition = definitions.get(node.name)
    return definition.type if definition else None


def reachable(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    """The nodes `start` leads to through `edges`, `start` included."""
    seen, pending = set(start), list(start)
    while pending:
        for target in edges.get(pending.pop(), ()):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def _node_problems(node: WorkflowNode, kind: str | None, known: set[str], resolved: bool) -> list[Problem]:
    """Problems of one node: its ref, its edges and scopes, next for its type, its expressions."""
    where = f'node "{node.name}": '
    problems = []
    if node.ref and not resolved:
        pinned = f" version {node.ref.version}" if node.ref.version else ""
        problems.append(Problem("UnknownNodeRef", f'{where}ref: NodeDefinition "{node.ref.name}"{pinned} not found'))
    if node.workflow and not resolved:
        ref = node.workflow.ref
        pinned = f" version {ref.version}" if ref.version else ""
        problems.append(Problem("UnknownWorkflowRef", f'{where}workflow.ref: Workflow "{ref.name}"{pinned} not found'))
    problems += [
        Problem("UnknownNodeTarget", f'{where}{field}: no node named "{target}"')
        for field, target in (*edges_of(node), *scope_starts(node))
        if target not in known
    ]
    if node.parallel:
        names = [branch.name for branch in node.parallel.branches]
        problems += [
            Problem("DuplicateBranchName", f'{where}parallel.branches: branch name "{n}" used more than once')
            for n in sorted({n for n in names if names.count(n) > 1})
        ]
    if node.compensate and kind in (*TERMINAL_TYPES, "branch"):
        problems.append(Problem("InvalidCompensate", f"{where}compensate: a {kind} node does nothing to undo"))
    if kind in TERMINAL_TYPES and node.next:
        problems.append(Problem("UnexpectedNext", f"{where}next: a {kind} node ends the run"))
    elif kind and kind not in (*TERMINAL_TYPES, "branch") and not node.next:
        problems.append(Problem("MissingNext", f"{where}next: required for a {kind} node"))
    return problems + block_problems(node, where)


def _scopes(spec: WorkflowSpec, edges: Mapping[str, set[str]], types: Mapping[str, str | None]) -> dict[str, set[str]]:
    """Each scope's nodes, keyed by how a message names it: the main path, then every branch, item and
    compensation scope by its first node (two branches starting at one node share one scope).

    Any failing node of the main path may end up in the global onFailure node, so it counts as reachable
    there; inside a branch, item or compensation a failure ends the scope instead.
    """
    failing = {n: {spec.on_failure} if spec.on_failure and types[n] not in TERMINAL_TYPES else set() for n in edges}
    scopes = {"the main path": reachable({spec.start_at}, {n: targets | failing[n] for n, targets in edges.items()})}
    labels = {spec.start_at: "the main path"}
    for node in spec.nodes:
        for field, first in scope_starts(node):
            if first in edges and first not in labels:
                labels[first] = f'the scope of node "{node.name}" {field} "{first}"'
                scopes[labels[first]] = reachable({first}, edges)
    return scopes


def _scope_problems(spec: WorkflowSpec, scopes: Mapping[str, set[str]]) -> list[Problem]:
    """Nodes in no scope or in two (an edge leaving its scope), and scopes that start themselves."""
    owner: dict[str, str] = {}
    problems = []
    for label, members in scopes.items():
        for n in sorted(members):
            first = owner.setdefault(n, label)
            if first != label:
                problems.append(Problem("ScopeOverlap", f'node "{n}": reached from {first} and from {label}'))
    problems += [
        Problem("UnreachableNode", f'node "{node.name}": not reachable from startAt "{spec.start_at}"')
        for node in spec.nodes
        if node.name not in owner
    ]
    problems += _nesting_problems(spec, scopes, owner)
    return problems


def _nesting_problems(spec: WorkflowSpec, scopes: Mapping[str, set[str]], owner: Mapping[str, str]) -> list[Problem]:
    """A scope that starts itself, directly or through others (a branch running its own parallel node)."""
    inner: dict[str, set[str]] = {label: set() for label in scopes}
    for node in spec.nodes:
        for _, first in scope_starts(node):
            if node.name in owner and first in owner:
                inner[owner[node.name]].add(owner[first])
    problems = []
    for label in scopes:
        if label in reachable(inner[label], inner):
            problems.append(Problem("ScopeCycle", f"{label}: runs inside itself again, without end"))
    return problems


def _end_problems(spec: WorkflowSpec, edges: Mapping[str, set[str]], types: Mapping[str, str | None],
                  in_scope: set[str]) -> list[Problem]:  # fmt: skip
    """Reachable nodes from which no terminal node can be reached (a path to an end must not rely on a failure:
    a loop with no exit is an error even when onFailure is set)."""
    backwards: dict[str, set[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            backwards.setdefault(target, set()).add(source)
    names = [node.name for node in spec.nodes]
    finishing = reachable({n for n in names if types[n] in TERMINAL_TYPES}, backwards)
    return [
        Problem("NoPathToEnd", f'node "{n}": no path from it reaches a success or failure node')
        for n in names
        if n in in_scope and n not in finishing and types[n] is not None
    ]


def validate_workflow(
    spec: WorkflowSpec, definitions: Mapping[str, NodeDefinitionSpec], children: Collection[str] = ()
) -> None:
    """Check every graph rule of docs/api.md; `definitions` maps each ref node's name to its resolved spec,
    `children` names the workflow nodes whose child Workflow was found.

    A ref node missing from `definitions` is reported as UnknownNodeRef, a workflow node missing from
    `children` as UnknownWorkflowRef.
    """
    names = [node.name for node in spec.nodes]
    known = set(names)
    problems = [
        Problem("DuplicateNodeName", f'node "{n}": name used more than once')
        for n in sorted({n for n in names if names.count(n) > 1})
    ]
    for field, target in (("startAt", spec.start_at), ("onFailure", spec.on_failure)):
        if target and target not in known:
            problems.append(Problem("UnknownNodeTarget", f'{field}: no node named "{target}"'))
    types = {node.name: node_type(node, definitions) for node in spec.nodes}
    edges: dict[str, set[str]] = {}
    for node in spec.nodes:
        problems += _node_problems(node, types[node.name], known, node.name in definitions or node.name in children)
        edges[node.name] = {target for _, target in edges_of(node) if target in known}
    if problem := _schema_problem(spec.input_schema, "inputSchema"):
        problems.append(problem)
    if spec.start_at in known:
        scopes = _scopes(spec, edges, types)
        problems += _scope_problems(spec, scopes)
        problems += _end_problems(spec, edges, types, set().union(*scopes.values()))
    if problems:
        raise DefinitionInvalid(problems)


def validate_input(schema: dict[str, Any] | None, value: dict[str, Any]) -> None:
    """Raise DefinitionInvalid (reason InvalidInput) naming the offending field of a run's input."""
    if schema is None:
        return
    error = best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return
    path = "input" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "required":
        missing = re.match(r"'([^']*)'", error.message)
        field = missing.group(1) if missing else "?"
        raise DefinitionInvalid([Problem("InvalidInput", f"{path}.{field}: required")])
    raise DefinitionInvalid([Problem("InvalidInput", f"{path}: {error.message}")])
