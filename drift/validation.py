"""Definition checks beyond the schema: graph rules, expressions, JSON Schemas, run input.

Every problem names where it is (`node "check-amount": choices[0].when: ...`) and carries a stable
CamelCase reason that the operator puts on the resource's conditions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from .expressions import ExpressionError, compile_expression, compile_json_templates, compile_template
from .models.nodes import TERMINAL_TYPES, NodeDefinitionSpec, TypedBlocks
from .models.workflow import WorkflowNode, WorkflowSpec

MAX_PROBLEMS = 10


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition."""

    reason: str
    """CamelCase, stable: DuplicateNodeName, UnknownNodeTarget, UnknownNodeRef, MissingNext, UnreachableNode,
    NoPathToEnd, InvalidExpression, InvalidSchema, InvalidInput."""
    message: str


class DefinitionInvalid(ValueError):
    """A definition with problems: the first one's reason, all messages (up to 10) joined."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.reason = problems[0].reason
        shown = "; ".join(p.message for p in problems[:MAX_PROBLEMS])
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        super().__init__(shown + more)


def _expressions(blocks: TypedBlocks) -> Iterator[tuple[str, str, Any]]:
    """(field path, kind, text) of every expression ("expr"), template ("tmpl") or JSON body ("json")."""
    if blocks.http:
        yield "http.url", "tmpl", blocks.http.url
        for key, value in blocks.http.headers.items():
            yield f"http.headers.{key}", "tmpl", value
        for key, value in blocks.http.query.items():
            yield f"http.query.{key}", "tmpl", value
        yield "http.body", "json", blocks.http.body
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
    for index, choice in enumerate(getattr(blocks, "choices", [])):
        yield f"choices[{index}].when", "expr", choice.when


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


def _targets(node: WorkflowNode) -> Iterator[tuple[str, str]]:
    """(field, target node) of every edge leaving `node`."""
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


def node_type(node: WorkflowNode, definitions: Mapping[str, NodeDefinitionSpec]) -> str | None:
    """The node's effective type: inline, or its referenced definition's (None if unresolved)."""
    if node.type:
        return node.type
    definition = definitions.get(node.name)
    return definition.type if definition else None


def _reachable(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen, pending = set(start), list(start)
    while pending:
        for target in edges.get(pending.pop(), ()):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def _node_problems(node: WorkflowNode, kind: str | None, known: set[str], resolved: bool) -> list[Problem]:
    """Problems of one node: its ref, its edges, next for its type, its expressions."""
    where = f'node "{node.name}": '
    problems = []
    if node.ref and not resolved:
        pinned = f" version {node.ref.version}" if node.ref.version else ""
        problems.append(Problem("UnknownNodeRef", f'{where}ref: NodeDefinition "{node.ref.name}"{pinned} not found'))
    problems += [
        Problem("UnknownNodeTarget", f'{where}{field}: no node named "{target}"')
        for field, target in _targets(node)
        if target not in known
    ]
    if kind in TERMINAL_TYPES and node.next:
        problems.append(Problem("UnexpectedNext", f"{where}next: a {kind} node ends the run"))
    elif kind and kind not in (*TERMINAL_TYPES, "branch") and not node.next:
        problems.append(Problem("MissingNext", f"{where}next: required for a {kind} node"))
    return problems + block_problems(node, where)


def _graph_problems(
    spec: WorkflowSpec, edges: Mapping[str, set[str]], types: Mapping[str, str | None]
) -> list[Problem]:
    """Nodes not reachable from startAt, and reachable nodes from which no terminal node can be reached.

    Any failing node may end up in the global onFailure node, so it counts as reachable; but a path to an
    end must not rely on a failure (a loop with no exit is an error even when onFailure is set).
    """
    failing = {n: {spec.on_failure} if spec.on_failure and types[n] not in TERMINAL_TYPES else set() for n in edges}
    reachable = _reachable({spec.start_at}, {n: targets | failing[n] for n, targets in edges.items()})
    names = [node.name for node in spec.nodes]
    problems = [
        Problem("UnreachableNode", f'node "{n}": not reachable from startAt "{spec.start_at}"')
        for n in names
        if n not in reachable
    ]
    backwards: dict[str, set[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            backwards.setdefault(target, set()).add(source)
    finishing = _reachable({n for n in names if types[n] in TERMINAL_TYPES}, backwards)
    problems += [
        Problem("NoPathToEnd", f'node "{n}": no path from it reaches a success or failure node')
        for n in names
        if n in reachable and n not in finishing and types[n] is not None
    ]
    return problems


def validate_workflow(spec: WorkflowSpec, definitions: Mapping[str, NodeDefinitionSpec]) -> None:
    """Check every graph rule of API.md; `definitions` maps each ref node's name to its resolved spec.

    A ref node missing from `definitions` is reported as UnknownNodeRef.
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
        problems += _node_problems(node, types[node.name], known, node.name in definitions)
        edges[node.name] = {target for _, target in _targets(node) if target in known}
    if problem := _schema_problem(spec.input_schema, "inputSchema"):
        problems.append(problem)
    if spec.start_at in known:
        problems += _graph_problems(spec, edges, types)
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
