"""CEL expressions and `{{ }}` templates: compiled once, evaluated deterministically, with bounded cost.

Variables: `input` (run input), `context` (each node's output under its key), `result` (a node's raw
result, in `output.expression`) and `error` (in failure handling). Evaluation does no I/O and reads no
clock. The CEL engine (the Rust-backed `cel` package) holds the GIL and has no cost limit of its own, so
cost is bounded here: comprehensions may nest two deep at most, and before evaluating an expression that
iterates, the worst-case iteration count over the actual variables is checked against a budget.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cel

from .models.common import MAX_EXPRESSION_LENGTH

VARIABLES = frozenset({"input", "context", "result", "error", "item", "index", "compensating"})
"""`item` and `index` hold a map item and its position (null outside a map item); `compensating` the node a
compensation undoes (null outside a compensation)."""
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
MAX_COMPREHENSION_DEPTH = 2
MAX_ITERATIONS = 100_000
"""Worst-case comprehension steps per evaluation (about 20-50 ms of CEL work on this engine)."""
FUNCTIONS = frozenset({
    "size", "int", "uint", "double", "string", "bytes", "dyn", "type", "timestamp", "duration",
    "contains", "startsWith", "endsWith", "matches", "has",
    "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear",
    "getHours", "getMinutes", "getSeconds", "getMilliseconds",
})  # fmt: skip
"""Named functions this engine implements (operators, spelled `_+_`, `@in`, are always allowed)."""

TYPE_NAMES = frozenset({"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type"})
"""Type identifiers, usable as values (`type(x) == int`)."""

_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


class ExpressionError(ValueError):
    """An expression that does not compile, or fails or exceeds its budget when evaluated."""

    def __init__(self, message: str, *, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


def _skip_string(source: str, i: int) -> int:
    """Index just past the string literal starting at `i` (quote, raw and triple-quoted forms)."""
    quote = source[i]
    raw = i > 0 and source[i - 1] in "rR"
    delimiter = quote * 3 if source.startswith(quote * 3, i) else quote
    j = i + len(delimiter)
    while j < len(source):
        if source[j] == "\\" and not raw:
            j += 2
            continue
        if source.startswith(delimiter, j):
            return j + len(delimiter)
        j += 1
    return len(source)


def comprehension_depth(source: str) -> int:
    """How deep comprehension macros (`.map(`, `.all(`, ...) nest in `source`."""
    stack: list[bool] = []
    depth = i = 0
    while i < len(source):
        char = source[i]
        if char in "'\"":
            i = _skip_string(source, i)
            continue
        if char == "(":
            word = re.search(r"\.\s*([A-Za-z_]\w*)\s*$", source[:i])
            stack.append(bool(word and word.group(1) in MACROS))
            depth = max(depth, sum(stack))
        elif char == ")" and stack:
            stack.pop()
        i += 1
    return depth


def _largest_collection(value: Any, limit: int) -> int:
    """The size of the largest list or map inside `value` (stops early once past `limit`)."""
    largest, pending = 0, [value]
    while pending and largest <= limit:
        item = pending.pop()
        if isinstance(item, Mapping):
            largest = max(largest, len(item))
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            largest = max(largest, len(item))
            pending.extend(item)
    return largest


def _syntax_error(source: str, exc: Exception, offset: int) -> ExpressionError:
    text = str(exc)
    match = _POSITION.search(text)
    if not match:
        return ExpressionError(f"does not compile: {text.splitlines()[0]}")
    column = int(match.group(2)) + offset
    detail = match.group(3).split("\n")[0]
    detail = re.sub(r"^Syntax error:\s*", "", detail)
    detail = re.sub(r" expecting \{.*", "", detail)
    return ExpressionError(f"syntax error at column {column}: {detail}", column=column)


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression."""

    source: str
    program: Any
    depth: int

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The expression's value over `variables`; ExpressionError on failure or over budget."""
        if self.depth:
            largest = _largest_collection(list(variables.values()), MAX_ITERATIONS)
            worst = max(largest, 1) ** self.depth
            if worst > MAX_ITERATIONS:
                raise ExpressionError(
                    f"cost limit: comprehensions nested {self.depth} deep over collections of up to "
                    f"{largest} items could take {worst} steps (limit {MAX_ITERATIONS})"
                )
        try:
            return self.program.execute(dict(variables))
        except Exception as exc:  # noqa: BLE001 - the engine raises KeyError, RuntimeError, ZeroDivisionError...
            raise ExpressionError(f"evaluation failed: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0]}"
    return str(exc).split(". Check that")[0]


@lru_cache(maxsize=4096)
def compile_expression(source: str, *, offset: int = 0, variables: frozenset[str] = VARIABLES) -> Expression:
    """Compile `source`; `offset` shifts reported columns (for expressions inside templates)."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"longer than {MAX_EXPRESSION_LENGTH} characters")
    if not source.strip():
        raise ExpressionError("empty expression")
    try:
        program = cel.compile(source)
    except Exception as exc:  # noqa: BLE001 - the engine reports syntax errors as ValueError or RuntimeError
        raise _syntax_error(source, exc, offset) from None
    bound = set(re.findall(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,", source))
    unknown = sorted(set(program.variables()) - variables - bound - TYPE_NAMES)
    if unknown:
        raise ExpressionError(f"unknown variable {unknown[0]!r} (use {', '.join(sorted(variables))})")
    functions = sorted(f for f in program.functions() if f[0].isalpha() and f not in FUNCTIONS)
    if functions:
        raise ExpressionError(f"unknown function {functions[0]!r}")
    depth = comprehension_depth(source)
    if depth > MAX_COMPREHENSION_DEPTH:
        raise ExpressionError(f"comprehensions nested {depth} deep (at most {MAX_COMPREHENSION_DEPTH})")
    return Expression(source, program, depth)


def _template_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each `{{ ... }}` in `text`, honouring braces and string literals inside."""
    spans, i = [], 0
    while (start := text.find("{{", i)) != -1:
        j, depth = start + 2, 0
        while j < len(text):
            if text[j] in "'\"":
                j = _skip_string(text, j)
                continue
            if text.startswith("}}", j) and depth == 0:
                break
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        else:
            raise ExpressionError(f"unclosed template starting at column {start + 1}", column=start + 1)
        spans.append((start, j + 2))
        i = j + 2
    return spans


@dataclass(frozen=True)
class Template:
    """Text with `{{ expression }}` parts. A text that is exactly one template keeps the value's type."""

    parts: tuple[str | Expression, ...]

    @property
    def is_static(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)

    def render(self, variables: Mapping[str, Any]) -> Any:
        """The rendered value: the expression's own value for a lone template, else a string."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Expression):
            return self.parts[0].evaluate(variables)
        return "".join(part if isinstance(part, str) else _text(part.evaluate(variables)) for part in self.parts)


def _text(value: Any) -> str:
    """How a value reads inside a string: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, default=str, separators=(",", ":"))


@lru_cache(maxsize=4096)
def compile_template(text: str, *, variables: frozenset[str] = VARIABLES) -> Template:
    """Compile the templates in `text`; errors give the column in the whole text."""
    parts: list[str | Expression] = []
    cursor = 0
    for start, end in _template_spans(text):
        if start > cursor:
            parts.append(text[cursor:start])
        inner = text[start + 2 : end - 2]
        lead = len(inner) - len(inner.lstrip())
        parts.append(compile_expression(inner.strip(), offset=start + 2 + lead, variables=variables))
        cursor = end
    if cursor < len(text) or not parts:
        parts.append(text[cursor:])
    return Template(tuple(parts))


def compile_json_templates(value: Any, *, variables: frozenset[str] = VARIABLES) -> None:
    """Compile every template in the string leaves of a JSON value (an HTTP body); raises on the first error."""
    if isinstance(value, str):
        compile_template(value, variables=variables)
    elif isinstance(value, Mapping):
        for item in value.values():
            compile_json_templates(item, variables=variables)
    elif isinstance(value, list):
        for item in value:
            compile_json_templates(item, variables=variables)


def render_json(value: Any, variables: Mapping[str, Any], *, names: frozenset[str] = VARIABLES) -> Any:
    """A JSON value with every string leaf rendered as a template (`names`: the variables they may use)."""
    if isinstance(value, str):
        return compile_template(value, variables=names).render(variables)
    if isinstance(value, Mapping):
        return {key: render_json(item, variables, names=names) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json(item, variables, names=names) for item in value]
    return value
